"""The fused BatchNormalization computes what Keras's own layer computes, and models saved after it name Keras's layer.

Each case builds two layers with the same weights, one of Keras's class and one switched to the fused class, and
compares a training step: the output, the updated moving statistics and the gradients of a loss with respect to
the input, gamma and beta.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.keras


def pair(keras: Any, shape: tuple[int, ...], **config: Any) -> tuple[Any, Any]:
    from layerspec.fused import fused_batchnorm_class

    rng = np.random.default_rng(7)
    plain = keras.layers.BatchNormalization(momentum=0.9, **config)
    plain.build((None, *shape[1:]))
    weights = [rng.normal(1.0, 0.3, w.shape).astype("float32") for w in plain.get_weights()]
    weights = [np.abs(w) if "variance" in v.path else w for w, v in zip(weights, plain.weights, strict=True)]
    plain.set_weights(weights)
    fused = keras.layers.BatchNormalization.from_config(plain.get_config())
    fused.build((None, *shape[1:]))
    fused.set_weights(weights)
    fused.__class__ = fused_batchnorm_class()
    return plain, fused


def training_step(layer: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    import tensorflow as tf

    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = layer(inputs, training=True)
        loss = tf.reduce_sum(tf.sin(tf.cast(y, tf.float32)))  # a loss whose gradient differs per element
    grads = tape.gradient(loss, [inputs, *layer.trainable_variables])
    out = {"y": np.asarray(tf.cast(y, tf.float32)), "dx": np.asarray(tf.cast(grads[0], tf.float32))}
    out |= {f"d{v.name}": np.asarray(g) for v, g in zip(layer.trainable_variables, grads[1:], strict=True)}
    out |= {v.name: np.asarray(v) for v in layer.non_trainable_variables}
    return out


@pytest.mark.parametrize(
    ("shape", "config"),
    [
        ((8, 6, 5, 3), {}),
        ((8, 6, 5, 3), {"axis": 3, "epsilon": 1e-5}),
        ((8, 6, 5, 3), {"center": False}),
        ((8, 6, 5, 3), {"scale": False}),
        ((16, 7), {}),
        ((4, 9, 5), {}),
        ((2, 3, 4, 5, 6), {}),
        ((8, 6, 5, 3), {"axis": 1}),  # not the last axis: Keras's own code runs
    ],
)
def test_training_step_matches_keras(keras: Any, shape: tuple[int, ...], config: dict[str, Any]) -> None:
    plain, fused = pair(keras, shape, **config)
    x = np.random.default_rng(3).normal(0.5, 2.0, shape).astype("float32")
    expected, actual = training_step(plain, x), training_step(fused, x)
    assert expected.keys() == actual.keys() and len(expected) >= 4
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=2e-4, atol=2e-4, err_msg=name)


def test_inference_is_keras_own(keras: Any) -> None:
    plain, fused = pair(keras, (8, 6, 5, 3))
    x = np.random.default_rng(4).normal(size=(8, 6, 5, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(fused(x, training=False)), np.asarray(plain(x, training=False)))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_inputs_stay_close_to_float32(keras: Any, dtype: str) -> None:
    import tensorflow as tf

    plain, fused = pair(keras, (8, 6, 5, 3))
    x = np.random.default_rng(5).normal(size=(8, 6, 5, 3)).astype("float32")
    expected = np.asarray(plain(x, training=True))
    actual = fused(tf.cast(x, dtype), training=True)
    assert actual.dtype == tf.float32  # the layer's compute dtype (float32 policy)
    np.testing.assert_allclose(np.asarray(actual), expected, atol=0.05)  # bfloat16 keeps 8 significant bits
    np.testing.assert_allclose(np.asarray(fused.moving_mean), np.asarray(plain.moving_mean), atol=0.01)


def test_swapped_model_saves_keras_layers(keras: Any, tmp_path: Path) -> None:
    from layerspec.fused import fused_batchnorm_class, standard_batchnorm, use_fused_batchnorm

    inputs = keras.Input((6, 6, 2))
    hidden = keras.layers.BatchNormalization(name="bn")(keras.layers.Conv2D(3, 3)(inputs))
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn_flat")(keras.layers.Flatten()(hidden)))
    weights = model.get_weights()
    assert use_fused_batchnorm(model) == 2
    assert all(type(model.get_layer(n)) is fused_batchnorm_class() for n in ("bn", "bn_flat"))
    model(np.ones((2, 6, 6, 2), "float32"), training=True)  # runs through the fused kernel
    standard_batchnorm(model)
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    classes = {layer["config"]["name"]: (layer["module"], layer["class_name"]) for layer in config["config"]["layers"]}
    assert classes["bn"] == classes["bn_flat"] == ("keras.layers", "BatchNormalization")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert type(loaded.get_layer("bn")) is keras.layers.BatchNormalization
    assert not np.array_equal(loaded.get_layer("bn").moving_mean, weights[2])  # the training step's statistics kept
