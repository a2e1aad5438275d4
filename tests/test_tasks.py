"""Test figures chosen by the loss (NumPy only): logits and single sigmoid outputs, and the regression figures."""

from __future__ import annotations

import numpy as np
import pytest

from layerspec.run.models import Metrics
from layerspec.splits import Split
from layerspec.tasks import Task, figures_of


def split(y: np.ndarray) -> Split:
    return Split(np.zeros((len(y), 2), np.float32), y, None)


def test_a_single_sigmoid_output_becomes_two_classes() -> None:
    y = np.array([0.0, 1.0, 1.0, 0.0], np.float32)
    outputs = np.array([[0.1], [0.8], [0.3], [0.2]])
    figures = figures_of(Task("binary_crossentropy", "values"), outputs, split(y), [])
    assert figures.class_names == ["0", "1"] and figures.test_accuracy == pytest.approx(0.75)
    assert figures.confusion_matrix == [[2, 0], [1, 1]] and figures.regression is None


def test_logits_are_read_as_logits() -> None:
    y = np.array([2, 0])
    logits = np.array([[0.0, 1.0, 5.0], [3.0, -1.0, 0.0]])
    figures = figures_of(Task("sparse_categorical_crossentropy", "sparse", True), logits, split(y), ["a", "b", "c"])
    assert figures.test_accuracy == 1.0 and figures.misclassified == []
    assert all(0.0 <= m <= 1.0 for m in [figures.per_class[0].precision])
    binary = figures_of(Task("binary_crossentropy", "values", True), np.array([[-2.0], [3.0]]), split(y[::-1] / 2), [])
    assert binary.test_accuracy == 1.0


def test_regression_figures() -> None:
    y = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    outputs = np.array([[1.5], [2.0], [2.0], [4.0]])
    figures = figures_of(Task("mean_absolute_error", "values"), outputs, split(y), [])
    scores = figures.regression
    assert scores is not None and figures.test_accuracy is None and figures.confusion_matrix == []
    assert scores.mae == pytest.approx(0.375) and scores.mse == pytest.approx(1.25 / 4)
    assert scores.rmse == pytest.approx((1.25 / 4) ** 0.5) and scores.r2 == pytest.approx(1 - 0.3125 / 1.25)
    assert figures.test_loss == pytest.approx(0.375) and [p.true for p in scores.sample] == [1, 2, 3, 4]
    huber = figures_of(Task("huber", "values", huber_delta=0.5), outputs, split(y), [])
    # |e| = 0.5, 0, 1, 0: 0.125, 0, 0.5 * (1 - 0.25), 0
    assert huber.test_loss == pytest.approx((0.125 + 0.375) / 4)
    constant = figures_of(Task("mean_squared_error", "values"), outputs, split(np.ones((4, 1))), [])
    assert constant.regression is not None and constant.regression.r2 is None
    # metrics.json is written without its nulls: what is left still reads back.
    record = Metrics.of(constant, "0" * 64)
    assert Metrics.model_validate_json(record.model_dump_json(by_alias=True, exclude_none=True)) == record


def test_metrics_json_round_trips_and_classifier_keys_are_unchanged() -> None:
    y = np.array([[1.0], [2.0]], np.float32)
    figures = figures_of(Task("mean_squared_error", "values"), np.array([[1.0], [2.5]]), split(y), [])
    record = Metrics.of(figures, "0" * 64)
    assert Metrics.model_validate_json(record.model_dump_json(by_alias=True)) == record
    classifier = figures_of(
        Task("sparse_categorical_crossentropy", "sparse"), np.eye(2), split(np.arange(2)), ["a", "b"]
    )
    assert set(classifier.to_json()) == {
        "test_loss",
        "test_accuracy",
        "test_count",
        "class_names",
        "confusion_matrix",
        "per_class",
        "misclassified",
    }
