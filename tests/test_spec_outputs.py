"""`outputs:` naming a layer's i-th output (`NAME[i]`), and attention's call arguments, held against Keras.

The static figures (every output's shape) must equal what Keras builds, and the model's outputs must be the
tensors named, in order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from layerspec.check import check_loaded
from layerspec.compile import compile_model, verify_model
from layerspec.spec import parse_spec

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

STATES = """\
name: states_out
input: {shape: [10, 4]}
layers:
  - {type: LSTM, name: encoder, units: 6, return_sequences: true, return_state: true}
  - {type: Dense, name: head, units: 2}
outputs: [head, "encoder[1]", "encoder[2]"]
"""

ATTENTION = """\
name: attention_out
inputs: [{name: q, shape: [7, 8]}, {name: v, shape: [9, 8]}]
layers:
  - type: MultiHeadAttention
    name: mha
    num_heads: 2
    key_dim: 4
    inputs: [q, v, v]
    call: {use_causal_mask: true, return_attention_scores: true}
  - {type: Attention, name: dot, inputs: [q, v], call: {return_attention_scores: true, use_causal_mask: true}}
  - type: GroupQueryAttention
    name: gqa
    head_dim: 2
    num_query_heads: 2
    num_key_value_heads: 1
    inputs: [q, v]
    call: {return_attention_scores: true}
  - {type: AdditiveAttention, name: add, inputs: [q, v], call: {return_attention_scores: true}}
outputs: [mha, "mha[1]", "dot[1]", "gqa[1]", gqa, "add[1]"]
"""


def test_outputs_may_name_a_layers_states() -> None:
    checked = check_loaded(parse_spec(STATES, Path("states.yaml")))
    assert checked.summary.to_json()["outputs"] == [
        {"name": "head", "shape": [None, 10, 2]},
        {"name": "encoder[1]", "shape": [None, 6]},
        {"name": "encoder[2]", "shape": [None, 6]},
    ]
    model = compile_model(checked)
    verify_model(checked, model)
    outs = model.predict(np.zeros((2, 10, 4)), verbose=0)
    assert [o.shape for o in outs] == [(2, 10, 2), (2, 6), (2, 6)]


def test_attention_scores_are_a_second_output() -> None:
    checked = check_loaded(parse_spec(ATTENTION, Path("attention.yaml")))
    shapes = [o["shape"][1:] for o in checked.summary.to_json()["outputs"]]
    assert shapes == [[7, 8], [2, 7, 7], [7, 9], [2, 7, 9], [7, 8], [7, 9]]
    model = compile_model(checked)
    verify_model(checked, model)  # every layer's output shapes, the scores included, equal Keras's
    assert model.get_layer("mha")._inbound_nodes[0].arguments.kwargs["use_causal_mask"] is True
    outs = model.predict([np.zeros((1, 7, 8)), np.zeros((1, 9, 8))], verbose=0)
    ran = [o.shape[1:] for o in outs]
    # Keras's symbolic scores of MultiHeadAttention are (heads, T, T) whatever the key's length S (what `check` gives
    # and `build` compares); computed, they are (heads, T, S).
    assert ran[1] == (2, 7, 9)
    assert ran[:1] + ran[2:] == [tuple(s) for i, s in enumerate(shapes) if i != 1]


def test_a_shared_layer_is_one_keras_layer_called_twice() -> None:
    spec = Path(__file__).parent / "cases" / "good" / "shared_layer.yaml"
    checked = check_loaded(parse_spec(spec.read_text(encoding="utf-8"), spec))
    model = compile_model(checked)
    verify_model(checked, model)  # 145 parameters in Keras too: the shared Dense's once
    assert [layer.name for layer in model.layers] == ["left", "right", "embed", "difference", "same"]
    assert len(model.get_layer("embed")._inbound_nodes) == 2
    assert model.count_params() == 145 and checked.summary.record("embed_right").params == 0
    # One set of weights: both sides of a pair of equal inputs embed alike, so their difference is zero.
    pair = [np.ones((1, 16)), np.ones((1, 16))]
    probe = model.get_layer("difference").output
    assert np.allclose(type(model)(model.inputs, probe).predict(pair, verbose=0), 0)
