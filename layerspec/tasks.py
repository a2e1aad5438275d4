"""What the model's outputs are, from the spec's loss, and the test figures that fit them (NumPy only).

A classification loss (categorical, sparse or binary cross-entropy) gives class figures: a confusion matrix, per
class precision, recall and F1. Logits (train.from_logits) are turned into probabilities first, and a single
sigmoid output with 0/1 targets (binary cross-entropy with data.labels: values) into the two classes 0 and 1. A
regression loss gives error figures (MAE, MSE, RMSE, R²) and a sample of (true, predicted) pairs for the report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerspec.data import data_spec
from layerspec.recipes import LOSSES
from layerspec.run.models import MAX_PLOTTED, Evaluation, RegressionScores
from layerspec.spec import LoadedSpec
from layerspec.spec.train import LOSS_FOR_LABELS, TrainSpec
from layerspec.splits import Split


@dataclass(frozen=True)
class Task:
    loss: str
    labels: str
    from_logits: bool = False
    huber_delta: float = 1.0

    @property
    def regression(self) -> bool:
        return LOSSES[self.loss].task == "regression"


def task_of(loaded: LoadedSpec) -> Task:
    settings = loaded.spec.train if loaded.spec.train is not None else TrainSpec()
    labels = data_spec(loaded).labels
    loss = settings.loss or LOSS_FOR_LABELS[labels]
    return Task(loss, labels, settings.from_logits, settings.huber_delta)


def figures_of(task: Task, outputs: np.ndarray, split: Split, class_names: list[str]) -> Evaluation:
    """The figures of `outputs` (the model's first output on `split`) as the task reads them."""
    from layerspec.evaluate import classification_metrics

    if task.regression:
        return regression_metrics(task, outputs, split)
    probabilities, split, class_names = _as_class_probabilities(task, outputs, split, class_names)
    return classification_metrics(probabilities, split, class_names)


def probabilities_of(task: Task, outputs: np.ndarray) -> np.ndarray:
    """A classifier's outputs as probabilities: logits (train.from_logits) through the loss's sigmoid or softmax."""
    if not task.from_logits or task.regression:
        return outputs
    if LOSSES[task.loss].activation == "sigmoid":
        return np.asarray(1 / (1 + np.exp(-outputs)))
    return _softmax(outputs)


def _as_class_probabilities(
    task: Task, outputs: np.ndarray, split: Split, class_names: list[str]
) -> tuple[np.ndarray, Split, list[str]]:
    binary = LOSSES[task.loss].activation == "sigmoid"
    outputs = probabilities_of(task, outputs)
    if binary and outputs.ndim == 2 and outputs.shape[1] == 1:
        labels = np.rint(split.y.reshape(-1)).astype(np.int64)
        p = outputs[:, 0]
        return np.stack([1 - p, p], axis=1), Split(split.x, labels, split.files), class_names or ["0", "1"]
    return outputs, split, class_names


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def regression_metrics(task: Task, outputs: np.ndarray, split: Split) -> Evaluation:
    """test_loss (the spec's regression loss), and MAE, MSE, RMSE, R² over every target value."""
    true = split.y.astype(np.float64).reshape(len(split), -1)
    predicted = outputs.astype(np.float64).reshape(len(split), -1)
    error = predicted - true
    mse, mae = float((error**2).mean()), float(np.abs(error).mean())
    variance = float(((true - true.mean(axis=0)) ** 2).mean())
    losses = {"mean_squared_error": mse, "mean_absolute_error": mae, "huber": _huber(error, task.huber_delta)}
    step = max(1, -(-len(split) // MAX_PLOTTED))
    sample = [{"true": float(true[i, 0]), "predicted": float(predicted[i, 0])} for i in range(0, len(split), step)]
    scores = RegressionScores.model_validate(
        {
            "mae": mae,
            "mse": mse,
            "rmse": mse**0.5,
            "r2": 1 - mse / variance if variance > 0 else None,
            "values": int(true.size),
            "sample": sample,
        }
    )
    return Evaluation.model_validate(
        {"test_loss": losses[task.loss], "test_count": len(split), "regression": scores.model_dump()}
    )


def _huber(error: np.ndarray, delta: float) -> float:
    """Keras's Huber: 0.5 e² inside delta, delta (|e| - 0.5 delta) outside, averaged."""
    absolute = np.abs(error)
    return float(np.where(absolute <= delta, 0.5 * error**2, delta * (absolute - 0.5 * delta)).mean())
