"""Proof that the compiler is faithful: the reference table, a hand-written twin, the cross-check, real networks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerspec.check import check_file
from layerspec.compile import compile_model, verify_model
from layerspec.errors import CompilerBug, SpecError
from layerspec.layers import REGISTRY, Shape, default_name

SPECS = Path(__file__).resolve().parent.parent / "specs"
SIGNS = SPECS / "signs.yaml"

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# The seed notebook's model.summary() of the SIGNS network: (name or type, output shape, params).
REFERENCE = [
    ("ZeroPadding2D", (None, 70, 70, 3), 0),
    ("conv0", (None, 64, 64, 32), 4_736),
    ("bn0", (None, 64, 64, 32), 128),
    ("Activation", (None, 64, 64, 32), 0),
    ("max_pool0", (None, 32, 32, 32), 0),
    ("conv1", (None, 26, 26, 64), 100_416),
    ("bn1", (None, 26, 26, 64), 256),
    ("Activation", (None, 26, 26, 64), 0),
    ("max_pool1", (None, 13, 13, 64), 0),
    ("Flatten", (None, 10_816), 0),
    ("fc", (None, 6), 64_902),
]


@pytest.fixture(scope="module")
def signs_model() -> Any:
    return compile_model(check_file(SIGNS))


def test_signs_matches_the_reference_table(signs_model: Any) -> None:
    layers = signs_model.layers[1:]  # after the InputLayer
    assert len(layers) == len(REFERENCE)
    for layer, (ident, shape, params) in zip(layers, REFERENCE, strict=True):
        assert ident in (layer.name, type(layer).__name__)
        assert tuple(layer.output.shape) == shape, layer.name
        assert layer.count_params() == params, layer.name
    assert signs_model.count_params() == 170_438
    non_trainable = sum(int(np.prod(w.shape)) for w in signs_model.non_trainable_weights)
    assert non_trainable == 192


def hand_written_signs(keras: Any) -> Any:
    """The seed notebook's network written directly with Keras."""
    layers = keras.layers
    inputs = keras.Input(shape=(64, 64, 3))
    x = layers.ZeroPadding2D(3)(inputs)
    x = layers.Conv2D(32, 7, name="conv0")(x)
    x = layers.BatchNormalization(axis=3, name="bn0")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(2, name="max_pool0")(x)
    x = layers.Conv2D(64, 7, name="conv1")(x)
    x = layers.BatchNormalization(axis=3, name="bn1")(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D(2, name="max_pool1")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(6, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs)


def test_compiled_model_equals_hand_written_keras(signs_model: Any, keras: Any) -> None:
    keras.utils.set_random_seed(7)
    reference = hand_written_signs(keras)
    assert reference.count_params() == signs_model.count_params()
    signs_model.set_weights(reference.get_weights())  # same weights on both sides
    # Non-trivial batch-norm statistics, so that inference-mode normalisation is exercised too.
    for name in ("bn0", "bn1"):
        layer = reference.get_layer(name)
        weights = [np.random.default_rng(1).uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.weights]
        layer.set_weights(weights)
        signs_model.get_layer(name).set_weights(weights)
    images = np.random.default_rng(0).uniform(0, 1, (8, 64, 64, 3)).astype("float32")
    expected = reference.predict(images, verbose=0)
    actual = signs_model.predict(images, verbose=0)
    np.testing.assert_array_equal(actual, expected)
    assert not np.allclose(expected, expected[:1])  # the inputs really produce different outputs


def test_cross_check_passes_and_returns_keras_figures(signs_model: Any) -> None:
    checked = check_file(SIGNS)
    built = verify_model(checked, signs_model)
    assert [r.output_shape for r in built.layers] == [r.output_shape for r in checked.summary.layers]
    assert built.non_trainable_params == 192


def _without_expect(tmp_path: Path) -> Path:
    spec = tmp_path / "signs.yaml"
    spec.write_text(SIGNS.read_text().split("expect:")[0])
    return spec


def test_cross_check_catches_a_lying_shape_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any) -> None:
    flatten = REGISTRY["Flatten"]
    honest = flatten.output_shape

    def lie(self: Any, inputs: list[Shape]) -> Shape:
        (size,) = honest(self, inputs)
        return (None if size is None else size + 1,)

    monkeypatch.setattr(flatten, "output_shape", lie)
    result = cli("build", str(_without_expect(tmp_path)), "--out", str(tmp_path / "run"))
    assert result.exit_code == 1, result.stderr
    assert "layers[9] (flatten): Flatten output shape: static inference (None, 10817), Keras (None, 10816)" in (
        result.stderr
    )
    # The lie also changed the static weights of the Dense layer reading it: reported too, with both figures.
    assert "layers[10] (fc): Dense trainable params: static inference 64,908, Keras 64,902" in result.stderr
    assert "bug in layerspec" in result.stderr
    assert not (tmp_path / "run").exists()


def test_cross_check_catches_lying_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batch_norm = REGISTRY["BatchNormalization"]
    honest = batch_norm.weights

    def lie(self: Any, inputs: list[Shape]) -> list[Any]:
        return honest(self, inputs)[:-1]  # forgets the moving variance

    monkeypatch.setattr(batch_norm, "weights", lie)
    checked = check_file(_without_expect(tmp_path))
    with pytest.raises(CompilerBug) as caught:
        verify_model(checked, compile_model(checked))
    messages = [d.message for d in caught.value.diagnostics]
    assert messages[0].startswith("layers[2] (bn0): BatchNormalization non-trainable params: static inference 32")
    assert "Keras 64" in messages[0]
    assert any(m.startswith("layers[6] (bn1)") for m in messages)
    assert caught.value.exit_code == 1


def test_expect_is_checked_against_the_built_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the per-layer cross-check switched off, a lying rule still cannot slip past `expect`."""
    dense = REGISTRY["Dense"]
    honest = dense.weights
    monkeypatch.setattr(dense, "weights", lambda self, inputs: [*honest(self, inputs), *honest(self, inputs)[1:]])
    monkeypatch.setattr("layerspec.compile.cross_check", lambda checked, built, model: None)
    spec = tmp_path / "signs.yaml"
    spec.write_text(SIGNS.read_text().replace("170438", "170444").replace("170246", "170252"))
    checked = check_file(spec)  # the static figures (wrongly) agree with this expect section
    with pytest.raises(SpecError, match=r"expect\.params: expected 170,444, but the model has 170,438"):
        verify_model(checked, compile_model(checked))


def test_signs_resnet_builds_with_skip_connections() -> None:
    checked = check_file(SPECS / "signs_resnet.yaml")
    model = compile_model(checked)
    verify_model(checked, model)
    add = model.get_layer("stage1_res1_add")
    assert sorted(t.name for t in _inbound(add)) == ["stage1_res1_bn_b", "stem_pool"]
    assert model.count_params() == checked.loaded.spec.expect.params  # type: ignore[union-attr]


def _inbound(layer: Any) -> list[Any]:
    return [t._keras_history.operation for t in layer._inbound_nodes[0].input_tensors]


def _figures_by_name(layers: list[tuple[str, str, Shape, int, int]]) -> dict[str, tuple[Shape, int, int]]:
    """Layer figures keyed by name; Keras's automatic names (global_average_pooling2d_3) lose their counter,
    which depends on how many such layers this process built before."""
    figures = {}
    for name, type_name, shape, trainable, non_trainable in layers:
        base = default_name(type_name)
        key = base if re.fullmatch(rf"{base}(_\d+)?", name) else name
        figures[key] = (shape, trainable, non_trainable)
    return figures


@pytest.mark.parametrize(
    ("spec", "application", "params"),
    [("resnet50.yaml", "ResNet50", 25_636_712), ("mobilenetv2.yaml", "MobileNetV2", 3_538_984)],
)
def test_published_architecture_equals_keras_applications(keras: Any, spec: str, application: str, params: int) -> None:
    checked = check_file(SPECS / spec)
    reference = getattr(keras.applications, application)(weights=None)  # random weights: nothing is downloaded
    assert checked.summary.params == reference.count_params() == params
    ours = [
        (r.name, r.type, r.output_shape, r.trainable_params, r.non_trainable_params) for r in checked.summary.layers[1:]
    ]
    theirs = [
        (
            layer.name,
            type(layer).__name__,
            tuple(layer.output.shape[1:]),
            sum(int(np.prod(w.shape)) for w in layer.trainable_weights),
            sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights),
        )
        for layer in reference.layers[1:]
    ]
    assert _figures_by_name(ours) == _figures_by_name(theirs)  # same names, shapes and counts, layer by layer
    model = compile_model(checked)
    verify_model(checked, model)
    assert model.count_params() == params


TWO_INPUTS = """\
name: two_towers
inputs:
  - {shape: [16, 16, 3], name: image}
  - {shape: [8], name: extra}
layers:
  - {type: Conv2D, name: conv, filters: 4, kernel_size: 3, inputs: image}
  - {type: GlobalAveragePooling2D, name: pool}
  - {type: Dense, name: side, units: 4, inputs: extra}
  - {type: Concatenate, name: joined, inputs: [pool, side]}
  - {type: Dense, name: head_a, units: 3, activation: softmax}
  - {type: Dense, name: head_b, units: 1, inputs: joined}
outputs: [head_a, head_b]
"""


def test_several_inputs_and_outputs(tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_INPUTS)
    checked = check_file(spec)
    model = compile_model(checked)
    verify_model(checked, model)
    assert [t.name for t in model.inputs] == ["image", "extra"]
    assert [tuple(t.shape) for t in model.outputs] == [(None, 3), (None, 1)]
    outputs = model.predict([np.zeros((2, 16, 16, 3)), np.zeros((2, 8))], verbose=0)
    assert [o.shape for o in outputs] == [(2, 3), (2, 1)]


def test_library_chatter_on_stderr_is_held_back(capfd: pytest.CaptureFixture[str]) -> None:
    import os

    from layerspec.compile import _stderr_held_back

    with _stderr_held_back():
        os.write(2, b"I0000 cudart_stub.cc:31] Could not find cuda drivers\n")  # as a C++ library writes it
    assert capfd.readouterr().err == ""
    with pytest.raises(ImportError), _stderr_held_back():
        os.write(2, b"E0000 the reason the import failed\n")
        raise ImportError("no tensorflow")
    assert "the reason the import failed" in capfd.readouterr().err  # shown when it explains a failure


def test_build_prints_no_tensorflow_log_lines(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "LAYERSPEC_DEBUG")}
    command = [
        str(Path(sys.executable).parent / "layerspec"),
        "build",
        str(SPECS / "signs.yaml"),
        "--out",
        str(tmp_path / "run"),
    ]
    # in tmp_path, so that runs/.current (the current run) is written there and not into the checkout
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
