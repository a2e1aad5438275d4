"""The evaluate stage: test metrics of a trained run, and predictions for image files.

The figures are computed from the model's predicted probabilities with NumPy, so `train` (on the model in memory)
and `evaluate` (on the saved model.keras) produce the same metrics.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerspec.data import (
    Split,
    data_spec,
    image_size,
    load_dataset,
    load_run_spec,
    model_target,
    run_data_dir,
    run_target,
)
from layerspec.errors import DataError, UsageError, escape_text
from layerspec.images import MemoryBudget, decoded_shape, read_images
from layerspec.run import Evaluation, Metrics, RunFolder, check_model_archive, folder, keras_classes, read_metrics
from layerspec.splits import Inputs, count

EPSILON = 1e-7  # Keras's clipping of probabilities in its cross-entropy losses


def predict_probabilities(model: Any, x: Inputs, batch_size: int = 256) -> np.ndarray:
    """The model's output probabilities for `x`, computed `batch_size` examples at a time.

    The batches come from a plain `tf.data` pipeline rather than Keras's adapter for NumPy arrays: for arrays of a
    few megabytes that adapter, with op determinism on, makes TensorFlow print an error line about an unknown
    attribute (`use_unbounded_threadpool`) on stderr, although nothing is wrong. (`predict_on_batch`, the other
    way round the adapter, returns every replica's copy of the batch under a distribution strategy.)
    """
    import tensorflow as tf

    batches = tf.data.Dataset.from_tensor_slices(x).batch(batch_size)
    probabilities = model.predict(batches, verbose=0) if count(x) else np.zeros((0, _classes(model)))
    if isinstance(probabilities, list | tuple):  # several outputs: the first one is the classifier
        probabilities = probabilities[0]
    return np.asarray(probabilities, dtype=np.float64)


def _classes(model: Any) -> int:
    return int(model.outputs[0].shape[-1])


def classification_metrics(probabilities: np.ndarray, split: Split, class_names: list[str]) -> Evaluation:
    """test_loss, test_accuracy, confusion matrix, per-class precision/recall/F1 and the misclassified examples."""
    y = split.y
    predicted = probabilities.argmax(axis=1)
    clipped = np.clip(probabilities / probabilities.sum(axis=1, keepdims=True), EPSILON, 1 - EPSILON)
    loss = float(-np.log(clipped[np.arange(len(y)), y]).mean()) if len(y) else float("nan")
    confusion = np.zeros((len(class_names), len(class_names)), np.int64)
    np.add.at(confusion, (y, predicted), 1)
    return Evaluation.model_validate(
        {
            "test_loss": loss,
            "test_accuracy": float((predicted == y).mean()) if len(y) else float("nan"),
            "test_count": len(y),
            "class_names": class_names,
            "confusion_matrix": confusion.tolist(),
            "per_class": _per_class(confusion, class_names),
            "misclassified": _misclassified(probabilities, predicted, split, class_names),
        }
    )


def _per_class(confusion: np.ndarray, class_names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for i, name in enumerate(class_names):
        true_positive = int(confusion[i, i])
        predicted, support = int(confusion[:, i].sum()), int(confusion[i, :].sum())
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": precision, "recall": recall, "f1": f1, "support": support})
    return rows


def _misclassified(
    probabilities: np.ndarray, predicted: np.ndarray, split: Split, class_names: list[str]
) -> list[dict[str, Any]]:
    wrong = np.flatnonzero(predicted != split.y)
    return [
        {
            "index": int(i),
            "file": split.files[i] if split.files is not None else None,
            "true": class_names[int(split.y[i])],
            "predicted": class_names[int(predicted[i])],
            "confidence": float(probabilities[i, predicted[i]]),
        }
        for i in wrong
    ]


def load_trained_model(run_dir: Path) -> Any:
    """The run's model.keras, checked and then loaded in safe mode (no code from the file is run)."""
    path = RunFolder(run_dir).file(folder.MODEL)
    if not path.is_file():
        raise UsageError(f"{run_dir} has no model.keras: train it first with `layerspec train {run_dir}`")
    from layerspec.compile import keras_module
    from layerspec.layers import REGISTRY

    keras = keras_module()
    check_model_archive(path, keras_classes(keras, set(REGISTRY)))
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # whatever Keras's loader refuses in a checked archive is the file's fault
        raise DataError(str(path), f"cannot load the model: {type(exc).__name__}: {exc}") from None


def check_model_fits(model: Any, x: Inputs, classes: int | None, path: Path) -> None:
    """The loaded model takes the data's images and has one output per class (`classes`, when known): a
    model.keras from another run would otherwise fail deep inside Keras."""
    if isinstance(x, dict):
        ports = {str(getattr(port, "name", "")): port for port in model.inputs}
        for name, values in x.items():
            _check_input_fits(ports.get(name), tuple(values.shape[1:]), name, path)
    else:
        _check_input_fits(model.inputs[0] if len(model.inputs) == 1 else None, tuple(x.shape[1:]), None, path)
    outputs = model.outputs[0].shape[-1] if len(model.outputs) == 1 else None
    if outputs is None or (classes is not None and outputs != classes):
        raise DataError(str(path), f"the model has {outputs} outputs, the data {classes} classes: rebuild the run")


def _check_input_fits(port: Any, expected: tuple[int, ...], name: str | None, path: Path) -> None:
    received = tuple(port.shape[1:]) if port is not None else ()
    if len(received) != len(expected) or any(
        r is not None and r != e for r, e in zip(received, expected, strict=False)
    ):
        what = f"input '{name}'" if name is not None else "inputs"
        raise DataError(
            str(path), f"the model takes {what} of shape {received}, the data's are {expected}: rebuild the run"
        )


def evaluate_run(run_dir: Path, data_dir: Path | None = None) -> Evaluation:
    """Evaluate the run's trained model on the test split and write metrics.json."""
    loaded = load_run_spec(run_dir)
    dataset = load_dataset(loaded, run_data_dir(run_dir, loaded, data_dir), target=run_target(run_dir))
    if dataset.test is None:
        raise UsageError("the spec's data section names no test split (data.test)", str(loaded.path))
    if not len(dataset.test):
        raise DataError(str(loaded.path), "the test split holds no images: nothing to evaluate")
    from layerspec.tasks import figures_of, task_of

    model = load_trained_model(run_dir)
    check_model_fits(model, dataset.test.x, len(dataset.class_names) or None, run_dir / "model.keras")
    outputs = predict_probabilities(model, dataset.test.x)
    metrics = figures_of(task_of(loaded), outputs, dataset.test, dataset.class_names)
    RunFolder(run_dir).write(folder.METRICS, Metrics.of(metrics, loaded.sha256))
    return metrics


@dataclass(frozen=True)
class Prediction:
    """One image's class, its probability and every class's probability."""

    file: str
    class_name: str
    confidence: float
    probabilities: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        """One entry of `predict --json` (its keys are a contract)."""
        return {
            "file": self.file,
            "class": self.class_name,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
        }


def predict_files(run_dir: Path, images: list[Path]) -> list[Prediction]:
    """Class and per-class probabilities for each image file, resized and scaled as the data section says."""
    loaded = load_run_spec(run_dir)
    spec = data_spec(loaded)
    size = image_size(spec, run_target(run_dir) or model_target(loaded))
    class_names = _run_class_names(run_dir, loaded)
    shape = decoded_shape(len(images), spec, size)
    MemoryBudget().claim(shape, run_dir, f"the {len(images)} images to predict decode to", "give fewer at a time")
    x = read_images(images, spec, size)  # every image is checked before the model loads
    model = load_trained_model(run_dir)
    check_model_fits(model, x, None, run_dir / "model.keras")
    from layerspec.tasks import probabilities_of, task_of

    probabilities = probabilities_of(task_of(loaded), predict_probabilities(model, x))
    if probabilities.shape[1] != len(class_names):
        class_names = [str(i) for i in range(probabilities.shape[1])]
    return [
        Prediction(
            str(path),
            class_names[int(row.argmax())],
            float(row.max()),
            {name: float(p) for name, p in zip(class_names, row, strict=True)},
        )
        for path, row in zip(images, probabilities, strict=True)
    ]


def _run_class_names(run_dir: Path, loaded: Any) -> list[str]:
    """Class names recorded by training (metrics.json), else the spec's, else numbers."""
    metrics = read_metrics(run_dir)
    if metrics is not None and metrics.class_names:
        return list(metrics.class_names)
    spec = data_spec(loaded)
    return list(spec.class_names) if spec.class_names else []


def headline(metrics: Evaluation) -> str:
    """One line of test figures: loss and accuracy of a classifier, loss and errors of a regression."""
    scores = metrics.regression
    if scores is None:
        return f"test loss {metrics.test_loss:.4f}   test accuracy {metrics.test_accuracy:.2%}"
    r2 = f"{scores.r2:.4f}" if scores.r2 is not None else "n/a (constant targets)"
    return f"test loss {metrics.test_loss:.4f}   MAE {scores.mae:.4g}   RMSE {scores.rmse:.4g}   R² {r2}"


def format_metrics(metrics: Evaluation, limit: int | None = None) -> str:
    """The evaluate table: totals, confusion matrix, per-class figures and misclassified images (the first
    `limit` of them; None: all; for a regression, the error figures)."""
    if metrics.regression is not None:
        scores = metrics.regression
        return (
            f"{headline(metrics)}   ({metrics.test_count} examples)\n"
            f"MSE {scores.mse:.6g} over {scores.values} target values\n"
        )
    # Class names may be folder names: escaped, so none can break a line or send terminal control codes.
    names = [escape_text(n) for n in metrics.class_names]
    width = max(8, *(len(n) + 2 for n in names))
    lines = [
        f"test loss {metrics.test_loss:.4f}   test accuracy {metrics.test_accuracy:.2%}   "
        f"({metrics.test_count} images)",
        "",
        "confusion matrix (rows: true, columns: predicted)",
        " " * width + "".join(f"{n:>{width}}" for n in names),
    ]
    lines += [
        f"{n:>{width}}" + "".join(f"{c:>{width}}" for c in row)
        for n, row in zip(names, metrics.confusion_matrix, strict=True)
    ]
    lines += ["", f"{'class':>{width}}{'precision':>11}{'recall':>9}{'f1':>8}{'support':>9}"]
    lines += [
        f"{escape_text(r.class_):>{width}}{r.precision:>11.3f}{r.recall:>9.3f}{r.f1:>8.3f}{r.support:>9}"
        for r in metrics.per_class
    ]
    wrong = metrics.misclassified
    shown = wrong if limit is None else wrong[:limit]
    lines += ["", f"misclassified: {len(wrong)}" + (f" (the first {len(shown)})" if len(shown) < len(wrong) else "")]
    lines += [
        f"  #{m.index:<5} true {escape_text(str(m.true)):<6} predicted {escape_text(str(m.predicted)):<6} "
        f"confidence {m.confidence:.3f}" + (f"  {escape_text(m.file)}" if m.file else "")
        for m in shown
    ]
    if len(shown) < len(wrong):
        lines.append(f"  ... and {len(wrong) - len(shown)} more: `--all` lists them, `--json` gives them all")
    return "\n".join(lines) + "\n"
