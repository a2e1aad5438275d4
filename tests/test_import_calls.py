"""`layerspec import` of models whose layers are called with arguments, read another's i-th output, or wrap a layer.

Each hand-built model is saved, imported, checked and built: every layer's output shapes (all of them, for a layer
of several outputs) and parameters in `check --json` must equal Keras's, the model's outputs must be the same
tensors, and every rebuilt layer's config must equal the original's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_import import comparable, invoke, refused

from layerspec.check import check_loaded
from layerspec.spec import parse_spec

pytestmark = pytest.mark.keras


def shapes_of(layer: Any) -> list[list[int | None]]:
    outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
    return [[None, *t.shape[1:]] for t in outputs]


def round_trip(model: Any, tmp_path: Path) -> tuple[dict[str, Any], list[str]]:
    """Save `model`, import it, and list every way the imported spec's figures or rebuilt model differ from it."""
    from layerspec.compile import compile_model, verify_model

    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    result = invoke("import", str(path), "--json")
    assert result.exit_code == 0, result.output
    text = json.loads(result.stdout)["text"]
    spec_file = tmp_path / "imported.yaml"
    spec_file.write_text(text, encoding="utf-8")
    checked = invoke("check", str(spec_file), "--json")
    assert checked.exit_code == 0, checked.output
    figures = {record["name"]: record for record in json.loads(checked.stdout)["layers"]}
    problems = []
    compared = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    for layer in compared:
        record = figures.get(layer.name)
        if record is None or record["output_shapes"] != shapes_of(layer) or record["params"] != layer.count_params():
            problems.append(f"{layer.name}: figures {record and record['output_shapes']}/{record and record['params']}")
    loaded = check_loaded(parse_spec(text, spec_file))
    rebuilt = compile_model(loaded)
    verify_model(loaded, rebuilt)
    for layer in compared:
        if comparable(rebuilt.get_layer(layer.name).get_config()) != comparable(layer.get_config()):
            problems.append(f"{layer.name}: config")
    if len(rebuilt.layers) != len(model.layers):
        problems.append(f"{len(rebuilt.layers)} layers rebuilt, {len(model.layers)} saved")
    if [t.shape for t in rebuilt.outputs] != [t.shape for t in model.outputs]:
        problems.append(f"outputs {rebuilt.outputs} against {model.outputs}")
    return yaml.safe_load(text), problems


def entries(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in spec["layers"]}


def test_a_text_model_with_a_mask_and_a_bidirectional_lstm(keras: Any, tmp_path: Path) -> None:
    tokens = keras.Input((20,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(100, 8, mask_zero=True, name="embed")(tokens)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True, name="lstm"), name="bi")(x)
    x = keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="sum", name="bi2")(x)
    out = keras.layers.Dense(3, activation="softmax", name="head")(x)
    spec, problems = round_trip(keras.Model(tokens, out, name="text"), tmp_path)
    assert not problems, problems
    layers = entries(spec)
    # Keras's own: the Dropout's training=False, the masks it propagated (not_equal nodes), the backward copies.
    assert "call" not in layers["drop"] and "not_equal" not in layers and len(layers) == 5
    assert layers["bi"]["layer"] == {"type": "LSTM", "name": "lstm", "units": 6, "return_sequences": True}
    assert "backward_layer" not in layers["bi"] and layers["bi2"]["merge_mode"] == "sum"


def test_masking_and_an_explicit_backward_layer(keras: Any, tmp_path: Path) -> None:
    steps = keras.Input((12, 3), name="steps")
    x = keras.layers.Masking(-1.0, name="pad")(steps)
    forward = keras.layers.SimpleRNN(5, name="fw")
    backward = keras.layers.SimpleRNN(5, go_backwards=True, activation="relu", name="bw")
    x = keras.layers.Bidirectional(forward, backward_layer=backward, name="bi")(x)
    spec, problems = round_trip(keras.Model(steps, keras.layers.Dense(2, name="out")(x), name="masked"), tmp_path)
    assert not problems, problems
    assert entries(spec)["bi"]["backward_layer"]["name"] == "bw"


def test_attention_with_call_arguments_and_its_scores(keras: Any, tmp_path: Path) -> None:
    query, value = keras.Input((7, 8), name="query"), keras.Input((9, 8), name="value")
    key = keras.layers.Dense(8, name="key")(value)
    mha = keras.layers.MultiHeadAttention(2, 4, name="mha")
    attended, scores = mha(query, value, key=key, return_attention_scores=True)
    own = keras.layers.MultiHeadAttention(2, 4, name="self")(attended, attended, use_causal_mask=True)
    normed = keras.layers.LayerNormalization(name="norm")(keras.layers.Add(name="residual")([attended, own]))
    dot = keras.layers.Attention(name="dot")([normed, value], return_attention_scores=True)
    model = keras.Model([query, value], [normed, scores, dot[1]], name="attention")
    spec, problems = round_trip(model, tmp_path)
    assert not problems, problems
    layers = entries(spec)
    assert layers["mha"]["inputs"] == ["query", "value", "key"]
    assert layers["mha"]["call"] == {"return_attention_scores": True}
    assert layers["self"]["call"] == {"use_causal_mask": True} and layers["self"]["inputs"] == ["mha", "mha"]
    assert spec["outputs"] == ["norm", "mha[1]", "dot[1]"]


def test_a_seq2seq_model_passes_the_encoder_states(keras: Any, tmp_path: Path) -> None:
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    encoded = keras.layers.Embedding(50, 8, name="source_embed")(source)
    _, h, c = keras.layers.LSTM(16, return_state=True, name="encoder")(encoded)
    decoded = keras.layers.Embedding(60, 8, name="target_embed")(target)
    decoded = keras.layers.LSTM(16, return_sequences=True, name="decoder")(decoded, initial_state=[h, c])
    out = keras.layers.Dense(60, activation="softmax", name="next_token")(decoded)
    spec, problems = round_trip(keras.Model([source, target], out, name="seq2seq"), tmp_path)
    assert not problems, problems
    assert entries(spec)["decoder"]["call"] == {"initial_state": ["encoder[1]", "encoder[2]"]}


def test_several_inputs_and_outputs_among_them_states(keras: Any, tmp_path: Path) -> None:
    image = keras.Input((16, 16, 3), name="image")
    series = keras.Input((10, 4), name="series")
    seen = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(4, 3, name="conv")(image))
    _, state = keras.layers.GRU(5, return_state=True, name="gru")(series)
    joined = keras.layers.Concatenate(name="joined")([seen, state])
    kind = keras.layers.Dense(3, activation="softmax", name="kind")(joined)
    size = keras.layers.Dense(1, name="size")(joined)
    model = keras.Model([image, series], [kind, size, state], name="two_by_three")
    spec, problems = round_trip(model, tmp_path)
    assert not problems, problems
    assert spec["outputs"] == ["kind", "size", "gru[1]"]
    assert entries(spec)["joined"]["inputs"] == ["pool", "gru[1]"]


def test_a_layer_fixed_in_training_mode_is_refused(keras: Any, tmp_path: Path) -> None:
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dropout(0.5, name="mc")(keras.layers.Dense(4)(x), training=True))
    model.save(tmp_path / "mc.keras")
    result = refused(tmp_path / "mc.keras", tmp_path / "out.yaml")
    assert result.exit_code == 2 and "'mc' (Dropout) is called with training=True" in result.stderr


def test_a_call_argument_the_schema_lacks_is_refused(keras: Any, tmp_path: Path) -> None:
    query, allowed = keras.Input((5, 8), name="query"), keras.Input((5, 5), dtype="bool", name="allowed")
    out = keras.layers.MultiHeadAttention(2, 4, name="mha")(query, query, attention_mask=allowed)
    keras.Model([query, allowed], out).save(tmp_path / "masked.keras")
    result = refused(tmp_path / "masked.keras", tmp_path / "out.yaml")
    assert result.exit_code == 2, result.output
    assert "'mha' (MultiHeadAttention) is called with attention_mask=" in result.stderr
    assert "it takes return_attention_scores, use_causal_mask" in result.stderr


def test_shared_layers_become_share_entries(keras: Any, tmp_path: Path) -> None:
    left, right = keras.Input((6, 3), name="left"), keras.Input((6, 3), name="right")
    encoder = keras.layers.LSTM(5, return_state=True, name="encoder")
    _, h_left, _ = encoder(left)
    _, h_right, c_right = encoder(right)
    dense = keras.layers.Dense(5, name="shared")
    twice = dense(dense(h_left))  # a layer reading its own output
    joined = keras.layers.Concatenate(name="joined")([twice, h_right, c_right])
    model = keras.Model([left, right], keras.layers.Dense(1, name="same")(joined), name="siamese")
    spec, problems = round_trip(model, tmp_path)
    assert not problems, problems
    layers = entries(spec)
    assert layers["encoder_call2"] == {"share": "encoder", "name": "encoder_call2", "inputs": "right"}
    assert layers["shared_call2"] == {"share": "shared", "name": "shared_call2", "inputs": "shared"}
    assert layers["joined"]["inputs"] == ["shared_call2", "encoder_call2[1]", "encoder_call2[2]"]
    assert spec["outputs"] == "same"
