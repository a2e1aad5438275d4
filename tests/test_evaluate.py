"""The metrics `evaluate` writes, computed from probabilities (no TensorFlow)."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from layerspec.data import Split
from layerspec.evaluate import classification_metrics, format_metrics

PROBABILITIES = np.array(
    [
        [0.8, 0.1, 0.1],  # true 0, right
        [0.6, 0.3, 0.1],  # true 1, predicted 0
        [0.1, 0.7, 0.2],  # true 1, right
        [0.2, 0.2, 0.6],  # true 2, right
        [0.1, 0.5, 0.4],  # true 2, predicted 1
    ]
)
SPLIT = Split(np.zeros((5, 1, 1, 1), np.float32), np.array([0, 1, 1, 2, 2]), [f"img{i}.jpg" for i in range(5)])


def test_accuracy_loss_and_confusion_matrix() -> None:
    metrics = classification_metrics(PROBABILITIES, SPLIT, ["a", "b", "c"]).to_json()
    assert metrics["test_accuracy"] == pytest.approx(3 / 5)
    expected_loss = -np.mean(np.log([0.8, 0.3, 0.7, 0.6, 0.4]))
    assert metrics["test_loss"] == pytest.approx(expected_loss)
    assert metrics["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]


def test_per_class_precision_recall_f1() -> None:
    rows = {r["class"]: r for r in classification_metrics(PROBABILITIES, SPLIT, ["a", "b", "c"]).to_json()["per_class"]}
    assert rows["a"]["precision"] == pytest.approx(0.5) and rows["a"]["recall"] == 1.0
    assert rows["a"]["f1"] == pytest.approx(2 / 3) and rows["a"]["support"] == 1
    assert rows["b"]["precision"] == pytest.approx(0.5) and rows["b"]["recall"] == pytest.approx(0.5)
    assert rows["c"]["precision"] == 1.0 and rows["c"]["recall"] == pytest.approx(0.5)


def test_misclassified_examples() -> None:
    wrong = classification_metrics(PROBABILITIES, SPLIT, ["a", "b", "c"]).to_json()["misclassified"]
    assert wrong == [
        {"index": 1, "file": "img1.jpg", "true": "b", "predicted": "a", "confidence": pytest.approx(0.6)},
        {"index": 4, "file": "img4.jpg", "true": "c", "predicted": "b", "confidence": pytest.approx(0.5)},
    ]


def test_class_never_predicted_has_zero_precision() -> None:
    split = Split(SPLIT.x[:2], np.array([0, 1]), None)
    metrics = classification_metrics(np.array([[0.9, 0.1], [0.8, 0.2]]), split, ["x", "y"]).to_json()
    assert metrics["per_class"][1]["precision"] == 0.0 and metrics["per_class"][1]["f1"] == 0.0
    assert metrics["misclassified"][0]["file"] is None
    assert math.isfinite(metrics["test_loss"])


def test_table_lists_every_figure() -> None:
    table = format_metrics(classification_metrics(PROBABILITIES, SPLIT, ["a", "b", "c"]))
    assert "test accuracy 60.00%" in table and "confusion matrix" in table
    assert "misclassified: 2" in table and "img4.jpg" in table
    assert table.count("\n") > 12


PREDICT_UNDER_DETERMINISM = """
import numpy as np
from layerspec.compile import keras_module
from layerspec.evaluate import predict_probabilities
keras = keras_module()
import tensorflow as tf
tf.config.experimental.enable_op_determinism()
model = keras.Sequential([keras.Input((4096,)), keras.layers.Dense(3, activation="softmax")])
x = np.random.default_rng(0).random((300, 4096), dtype=np.float32)
probabilities = predict_probabilities(model, x, batch_size=64)
np.testing.assert_allclose(probabilities, model(x).numpy(), rtol=1e-5, atol=1e-6)
assert probabilities.shape == (300, 3) and probabilities.dtype == np.float64
assert predict_probabilities(model, x[:0]).shape == (0, 3)
"""


def test_predicting_prints_nothing_on_stderr_in_deterministic_mode() -> None:
    # Keras's `model.predict` on a few megabytes of NumPy, with op determinism on, made TensorFlow print an error
    # line about an unknown tf.data attribute; every run of the signs recipe showed it
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run(
        [sys.executable, "-c", PREDICT_UNDER_DETERMINISM], capture_output=True, text=True, env=env, timeout=240
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
