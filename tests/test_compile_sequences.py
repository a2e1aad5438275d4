"""Sequence models built with Keras: call arguments, several outputs, initial states, wrappers and masks.

The static figures of each model must equal what Keras builds (`verify_model`), and the built model must run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerspec.check import check_file, check_loaded
from layerspec.compile import compile_model, verify_model
from layerspec.spec import parse_spec

SPECS = Path(__file__).resolve().parent.parent / "specs"

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def built(text: str) -> tuple[Any, Any]:
    checked = check_loaded(parse_spec(text, Path("sequences.yaml")))
    model = compile_model(checked)
    verify_model(checked, model)
    return checked, model


def test_seq2seq_passes_the_encoder_states_to_the_decoder() -> None:
    checked = check_file(SPECS / "seq2seq.yaml")
    model = compile_model(checked)
    verify_model(checked, model)
    decoder = model.get_layer("decoder")
    # The decoder's call read the target embedding and, as its initial state, the encoder's h and c.
    sources = [(t._keras_history.operation.name, t._keras_history.tensor_index) for t in _inputs(decoder)]
    assert sources == [("target_embedding", 0), ("encoder", 1), ("encoder", 2)]
    out = model.predict([np.ones((2, 24), "int32"), np.ones((2, 20), "int32")], verbose=0)
    assert out.shape == (2, 20, 1200)


def _inputs(layer: Any) -> list[Any]:
    return list(layer._inbound_nodes[0].input_tensors)


def test_text_classifier_builds_and_runs() -> None:
    checked = check_file(SPECS / "text_classifier.yaml")
    model = compile_model(checked)
    verify_model(checked, model)
    ids = np.zeros((2, 40), "int32")
    ids[:, :5] = 7  # the rest is padding, masked by the embedding
    assert model.predict(ids, verbose=0).shape == (2, 3)


SEVERAL_OUTPUTS = """\
name: several
input: {shape: [10, 6]}
layers:
  - type: Bidirectional
    name: bi
    layer: {type: LSTM, units: 4, return_sequences: true, return_state: true}
    merge_mode: null
  - {type: Concatenate, name: both, inputs: [bi, "bi[1]"]}
  - {type: Concatenate, name: states, inputs: ["bi[2]", "bi[3]", "bi[4]", "bi[5]"]}
  - {type: GRU, name: again, units: 16, inputs: both, call: {initial_state: states}}
  - {type: Dense, name: out, units: 2}
"""


def test_several_outputs_and_an_initial_state_from_them() -> None:
    checked, model = built(SEVERAL_OUTPUTS)
    record = checked.summary.record("bi")
    assert record.output_shapes == ((10, 4), (10, 4), (4,), (4,), (4,), (4,))
    assert checked.summary.record("both").output_shape == (10, 8)
    assert model.predict(np.zeros((2, 10, 6)), verbose=0).shape == (2, 2)


WRAPPERS = """\
name: wrappers
input: {shape: [4, 12, 12, 3]}
layers:
  - type: TimeDistributed
    name: frames
    layer: {type: Conv2D, filters: 4, kernel_size: 3, name: frame_conv}
  - {type: ConvLSTM2D, name: clstm, filters: 3, kernel_size: 3, padding: same, return_sequences: true}
  - {type: TimeDistributed, name: flat, layer: {type: Flatten}}
  - type: Bidirectional
    name: bi
    layer: {type: SimpleRNN, units: 5}
    backward_layer: {type: SimpleRNN, units: 5, go_backwards: true}
  - type: SpectralNormalization
    name: head
    layer: {type: Dense, units: 2}
"""


def test_nested_layers_build() -> None:
    checked, model = built(WRAPPERS)
    assert checked.summary.record("head").non_trainable_params == 2  # the power iteration's vector u
    assert model.get_layer("frames").layer.name == "frame_conv"
    assert model.predict(np.zeros((2, 4, 12, 12, 3)), verbose=0).shape == (2, 2)
