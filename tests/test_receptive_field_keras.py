"""The receptive-field rules held against the built Keras model: for random chains and DAGs, the input pixels whose
gradient on one output position is non-zero span, at the widest, exactly the field `check` computes.

The models are linear where it matters (no ReLU, average rather than max pooling), so no gradient is zero by
accident, and run at inference, where the fields are defined; each is a few layers on a 36x36 image."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from layerspec.check import check_file
from layerspec.errors import SpecError

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SIZE = 36
MAX_FIELD = 28  # keeps a whole field inside the image for some output position


def random_layer(rng: random.Random, stride_ok: bool) -> dict[str, Any]:
    kind = rng.choice(["conv", "conv", "dilated", "depthwise", "pool", "pad", "crop", "up", "transpose", "other"])
    stride = rng.choice([1, 2]) if stride_ok else 1
    kernel = [rng.choice([1, 2, 3, 5]), rng.choice([1, 2, 3])]
    padding = rng.choice(["same", "valid"])
    if kind == "conv":
        return {"type": "Conv2D", "filters": 2, "kernel_size": kernel, "strides": stride, "padding": padding}
    if kind == "dilated":
        return {"type": "Conv2D", "filters": 2, "kernel_size": 3, "dilation_rate": [2, 1], "padding": padding}
    if kind == "depthwise":
        return {"type": "DepthwiseConv2D", "kernel_size": kernel, "strides": stride, "padding": padding}
    if kind == "pool":
        return {"type": "AveragePooling2D", "pool_size": kernel[::-1], "strides": stride, "padding": padding}
    if kind == "pad":
        return {"type": "ZeroPadding2D", "padding": [[1, 0], [0, 2]]}
    if kind == "crop":
        return {"type": "Cropping2D", "cropping": [[1, 0], [0, 1]]}
    if kind == "up":
        return {"type": "UpSampling2D", "size": [2, 1], "interpolation": rng.choice(["nearest", "bilinear"])}
    if kind == "transpose":
        return {"type": "Conv2DTranspose", "filters": 2, "kernel_size": rng.choice([2, 3, 4]), "strides": stride}
    return rng.choice([{"type": "BatchNormalization"}, {"type": "Activation", "activation": "tanh"}])


def chain(rng: random.Random) -> list[dict[str, Any]]:
    # A strided convolution somewhere, so later windows are spread by the stride.
    layers = [random_layer(rng, True) for _ in range(rng.randint(2, 5))]
    strided = {"type": "Conv2D", "filters": 2, "kernel_size": 3, "strides": [2, rng.choice([1, 2])]}
    layers.insert(rng.randint(0, len(layers) - 1), {**strided, "padding": rng.choice(["same", "valid"])})
    return layers


def dag(rng: random.Random) -> list[dict[str, Any]]:
    """A stem, two branches of 'same' layers from it, merged, and a layer after the merge."""
    layers = [{**random_layer(rng, True), "name": "stem"}]
    for branch in ("left", "right"):
        for i in range(rng.randint(1, 3)):
            layer = {"type": "Conv2D", "filters": 2, "kernel_size": rng.choice([1, 3, 5]), "padding": "same"}
            layers.append({**layer, "name": f"{branch}{i}", "inputs": "stem" if i == 0 else f"{branch}{i - 1}"})
    ends = [next(layer["name"] for layer in reversed(layers) if str(layer["name"]).startswith(b)) for b in ("l", "r")]
    layers.append({"type": rng.choice(["Add", "Concatenate", "Maximum"]), "name": "merge", "inputs": ends})
    layers.append(random_layer(rng, True))
    return layers


def checked_spec(tmp_path: Path, layers: list[dict[str, Any]]) -> Any:
    spec = {"name": "rf", "input": {"shape": [SIZE, SIZE, 1]}, "layers": layers}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    try:
        checked = check_file(path)
    except SpecError:
        return None  # a drawn model that does not fit together (a window larger than its input)
    last = checked.summary.layers[-1]
    sizes = last.field.sizes()
    if sizes is None or max(sizes) > MAX_FIELD or min(last.output_shape[:2]) < 1:  # type: ignore[operator]
        return None
    return checked


def measured_field(model: Any) -> list[int]:
    """The widest span, per axis, of input pixels with a non-zero gradient on one output position."""
    import tensorflow as tf

    x = tf.constant(np.random.default_rng(0).normal(size=(1, SIZE, SIZE, 1)), dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(model(x, training=False), axis=-1)  # one value per output position
    jacobian = tape.jacobian(y, x).numpy()[0, :, :, 0, :, :, 0]  # (out_h, out_w, in_h, in_w)
    widest = [0, 0]
    for row in jacobian.reshape(-1, SIZE, SIZE):
        hit_rows, hit_cols = np.nonzero(row)
        if hit_rows.size:
            widest[0] = max(widest[0], int(hit_rows.max() - hit_rows.min() + 1))
            widest[1] = max(widest[1], int(hit_cols.max() - hit_cols.min() + 1))
    return widest


def drawn(seed: int, shape: str, tmp_path: Path) -> Any:
    rng = random.Random(seed)
    for _ in range(50):
        checked = checked_spec(tmp_path, chain(rng) if shape == "chain" else dag(rng))
        if checked is not None:
            return checked
    pytest.fail(f"no drawn {shape} checks (seed {seed})")


@pytest.mark.parametrize(("seed", "shape"), [(s, "chain") for s in range(10)] + [(s, "dag") for s in range(6)])
def test_field_matches_gradients(tmp_path: Path, keras: Any, seed: int, shape: str) -> None:
    from layerspec.compile import compile_model

    checked = drawn(seed, shape, tmp_path)
    model = compile_model(checked)
    last = checked.summary.layers[-1]
    layers = [f"{r.name}:{r.type}:{r.field.label()}" for r in checked.summary.layers]
    assert measured_field(model) == last.field.sizes(), layers
