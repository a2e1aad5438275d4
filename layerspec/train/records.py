"""The end of training: the weights kept, batch-norm recalibration, test metrics, and the run's records."""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from layerspec.artifacts import atomic_path
from layerspec.data import data_spec
from layerspec.evaluate import predict_probabilities
from layerspec.fused import standard_batchnorm
from layerspec.hardware import this_cpu
from layerspec.run import Epoch, Evaluation, History, Metrics, RunFolder, TrainInfo, folder, set_current_run
from layerspec.splits import Inputs, count, take
from layerspec.tasks import figures_of, task_of
from layerspec.train.checkpoint import BEST_WEIGHTS, _load_weights
from layerspec.train.loop import _Run, best_epoch
from layerspec.train.model import apply_weight_average
from layerspec.train.options import TrainOptions
from layerspec.train.runtime import is_chief

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]
# `train --json`'s metrics when the data has no test split.
NO_TEST_SPLIT = {"test_loss": None, "test_accuracy": None}


@dataclass(frozen=True)
class TrainResult:
    """What a training made: the run folder, its epochs, the weights it kept and the test figures."""

    run_dir: Path
    history: list[Epoch]  # one record per epoch, as history.json holds them
    kept_epoch: int
    kept_reason: str
    metrics: Evaluation | None  # the test split's figures; None without a test split

    @property
    def model(self) -> Path:
        return self.run_dir / "model.keras"

    @property
    def epochs(self) -> int:
        return len(self.history)

    def moved_to(self, run_dir: Path) -> TrainResult:
        """The same result for the folder the run was trained in becoming `run_dir`."""
        return replace(self, run_dir=run_dir)

    def to_json(self) -> dict[str, Any]:
        """The `--json` payload of `layerspec train` (its keys are a contract: scripts read them)."""
        epochs = [epoch.record() for epoch in self.history]
        return {
            "run_dir": str(self.run_dir),
            "model": str(self.model),
            "history": {"epochs": epochs, "kept_epoch": self.kept_epoch, "kept_reason": self.kept_reason},
            "metrics": NO_TEST_SPLIT if self.metrics is None else self.metrics.to_json(),
            "epochs": self.epochs,
            "epoch_seconds": [epoch.seconds for epoch in self.history],
        }


def _finish(run: _Run, options: TrainOptions, started: datetime, root: Path) -> TrainResult:
    if run.settings.strategy.type == "multi_worker":
        from layerspec.train.distributed import local_copy

        run.model = local_copy(run)  # evaluated and saved as an ordinary model
    kept_epoch, kept_reason = _keep_weights(run)
    if run.settings.recalibrate_batchnorm:
        kept_reason += _recalibrate(run)
    spec = run.loaded.sha256  # the results name the spec they came from
    history = History(spec_sha256=spec, epochs=_epochs(run), kept_epoch=kept_epoch, kept_reason=kept_reason)
    metrics = _test_metrics(run)
    model_path = run.run_dir / "model.keras"
    standard_batchnorm(run.model)  # the file names Keras's own layers, whatever trained them
    with atomic_path(model_path) as tmp:
        run.model.save(tmp)
    _write_records(run, history, metrics, _train_record(run, options, started, root))
    if is_chief():
        set_current_run(run.run_dir)
    return TrainResult(run.run_dir, history.epochs, kept_epoch, kept_reason, metrics)


def _epochs(run: _Run) -> list[Epoch]:
    return list(run.history)


def _write_records(run: _Run, history: History, metrics: Evaluation | None, record: TrainInfo) -> None:
    """history.json, history.csv, metrics.json (with a test split) and train.json last: it marks the end."""
    folder_ = RunFolder(run.run_dir)
    folder_.write(folder.HISTORY, history)
    folder_.write_text(folder.HISTORY_CSV, _history_csv(run.history))
    if metrics is not None:
        folder_.write(folder.METRICS, Metrics.of(metrics, run.loaded.sha256))
    folder_.write(folder.TRAIN, record)


def recalibrate_batchnorm(model: Any, x: Inputs, chunk: int = 128) -> int:
    """Set each BatchNormalization layer's moving statistics to their average over `x` ("precise BN").

    During training the moving averages (momentum 0.99: about the last 100 steps) mix statistics of weights that
    have since changed; on a small dataset that lag costs several points of accuracy at inference. Running the
    data through the model in training mode with momentum (k-1)/k at the k-th chunk makes each moving value the
    plain mean of the chunks' batch statistics. Returns the number of layers recalibrated.
    """
    from layerspec.compile import keras_module

    keras = keras_module()
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, count(x), chunk), start=1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            model(take(x, slice(start, start + chunk)), training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return len(layers)


def _recalibrate(run: _Run) -> str:
    """Precise BN on the kept weights; the validation figures are measured again with the new statistics."""
    count = recalibrate_batchnorm(run.model, run.dataset.train.x)
    note = f"; moving statistics of {count} BatchNormalization layers recomputed on the training split"
    val = run.dataset.val
    if count and val is not None and len(val):
        outputs = predict_probabilities(run.model, val.x)
        figures = figures_of(task_of(run.loaded), outputs, val, run.dataset.class_names)
        note += f" (then val_loss {figures.test_loss:.4f}"
        note += f", val_accuracy {figures.test_accuracy:.4f})" if figures.test_accuracy is not None else ")"
    return note


def _keep_weights(run: _Run) -> tuple[int, str]:
    last = len(run.history)
    stopped = f" (stopped early after epoch {last})" if run.stopped_early else ""
    if run.settings.optimizer.use_ema and run.history:
        apply_weight_average(run.model)
        momentum = run.settings.optimizer.ema_momentum
        return last, f"moving average of the weights (momentum {momentum}) at the last epoch" + stopped
    if run.settings.keep.weights == "last" or not run.history:
        return last, "last epoch" + stopped
    index = best_epoch(run.history, run.monitor)
    _load_weights(run.run_dir / BEST_WEIGHTS, run.model)
    value = run.history[index][run.monitor]
    return index + 1, f"best {run.monitor} ({value:.4f}) at epoch {index + 1} of {last}{stopped}"


def _test_metrics(run: _Run) -> Evaluation | None:
    test = run.dataset.test
    if test is None or not len(test):
        return None
    probabilities = predict_probabilities(run.model, test.x, run.settings.batch_size)
    return figures_of(task_of(run.loaded), probabilities, test, run.dataset.class_names)


def _history_csv(history: list[Epoch]) -> str:
    rows = [epoch.record() for epoch in history]
    extra = sorted({k for r in rows for k in r} - set(HISTORY_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS + extra, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _train_record(run: _Run, options: TrainOptions, started: datetime, root: Path) -> TrainInfo:
    import tensorflow as tf

    return TrainInfo(
        spec_sha256=run.loaded.sha256,
        command=options.command,
        seed=run.settings.seed,
        settings=run.settings.model_dump(mode="json"),
        data=data_spec(run.loaded).model_dump(mode="json"),
        data_dir=str(root),
        counts=dict(run.dataset.counts()),
        class_names=list(run.dataset.class_names),
        epochs_completed=len(run.history),
        stopped_early=run.stopped_early,
        resumed=options.resume,
        devices=[d.name for d in tf.config.list_logical_devices()],
        replicas=run.replicas,
        workers=_workers(run),
        precision=run.precision,
        cpu=this_cpu(),
        jit_compiled=bool(getattr(run.model, "jit_compile", False)),  # Keras falls back when a layer cannot
        started=started.isoformat(),
        finished=datetime.now(UTC).isoformat(),
        python=sys.version.split()[0],
        tensorflow=tf.__version__,
        overrides=list(run.loaded.overrides),
    )


def _workers(run: _Run) -> int:
    if run.settings.strategy.type != "multi_worker":
        return 1
    from layerspec.train.distributed import cluster

    return cluster().count
