"""The epoch loop: one `model.fit` per epoch, its callbacks and progress, early stopping and checkpoints."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol, runtime_checkable

from layerspec.data import Dataset, data_spec
from layerspec.hardware import PrecisionChoice
from layerspec.recipes import Figures, better, epochs_without_improvement, learning_rate
from layerspec.run import FORMAT_VERSION, CheckpointState, Epoch, RunFolder, folder
from layerspec.spec import LoadedSpec
from layerspec.spec.train import TrainSpec
from layerspec.train.checkpoint import BEST_WEIGHTS, CHECKPOINT, _save_weights, save_checkpoint
from layerspec.train.interrupt import SIGNAL_AT_EPOCH_ENV, Interrupted, _StopNow, _StopRequest, stop_on_signals
from layerspec.train.pipeline import _Pipeline


class Progress(Protocol):
    """Where training tells the user how it goes; the command line supplies it (a terminal also gets a bar)."""

    @property
    def bar(self) -> bool:
        """Whether to draw a bar that each batch redraws (only a terminal shows it as intended)."""
        ...

    def write(self, text: str) -> None:
        """Show `text` now (an epoch's line, or the bar's redraw, which starts with a carriage return)."""
        ...


@runtime_checkable
class EpochObserver(Protocol):
    """A display that also wants each finished epoch's figures (a sweep reports them to its study); it may raise
    to stop the training, after the epoch's checkpoint was saved. It gets the figures written (`Epoch.record`)."""

    def epoch_done(self, record: dict[str, Any]) -> None: ...


@dataclass
class _Progress:
    """The display training was given, or none: then nothing is shown."""

    display: Progress | None

    def write(self, text: str) -> None:
        if self.display is not None:
            self.display.write(text)

    @property
    def bar(self) -> bool:
        return self.display is not None and self.display.bar


def best_epoch(history: Sequence[Figures], monitor: str) -> int:
    """Index of the best epoch (the earliest one on ties)."""
    best = 0
    for i, record in enumerate(history):
        if better(record[monitor], history[best][monitor], monitor):
            best = i
    return best


def _callbacks(
    keras: Any, stop: _StopRequest, progress: _Progress, steps: int, epoch: int, total: int, log_dir: Path | None
) -> list[Any]:
    class StopAtBoundary(keras.callbacks.Callback):  # type: ignore[misc]
        """Leaves fit before the next batch once a signal came in.

        It has no batch-end hook on purpose: Keras then dispatches batch ends asynchronously instead of waiting
        for every step's figures (which costs speed).
        """

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if batch == 0 and os.environ.get(SIGNAL_AT_EPOCH_ENV) == str(epoch + 1):
                os.kill(os.getpid(), signal.SIGINT)
            if stop.signum is not None:
                stop.epoch, stop.batch = epoch + 1, batch
                raise _StopNow

    class ProgressBar(keras.callbacks.Callback):  # type: ignore[misc]
        """The bar on a terminal; it only draws, so Keras may call it from its callback thread."""

        async_safe = True

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            done = int(20 * (batch + 1) / steps)
            figures = "  ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
            progress.write(
                f"\repoch {epoch + 1}/{total} [{'=' * done}{' ' * (20 - done)}] {batch + 1}/{steps}  {figures}"
            )

    # Keras's own TensorBoard callback: `fit` is told the epoch (initial_epoch), so each epoch's scalars have its step.
    board = [keras.callbacks.TensorBoard(log_dir=str(log_dir))] if log_dir is not None else []
    return [StopAtBoundary(), *([ProgressBar()] if progress.bar else []), *board]


@dataclass
class _Run:
    run_dir: Path
    loaded: LoadedSpec
    settings: TrainSpec
    dataset: Dataset
    model: Any
    progress: _Progress
    replicas: int = 1
    precision: PrecisionChoice | None = None
    history: list[Epoch] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def monitor(self) -> str:
        return self.settings.keep.monitor

    def state(self) -> CheckpointState:
        """The checkpoint's state after the epochs so far; every key is set, but `interrupted` (state.json's)."""
        return CheckpointState(
            format_version=FORMAT_VERSION,
            epoch=len(self.history),
            history=list(self.history),
            seed=self.settings.seed,
            spec_sha256=self.loaded.sha256,
            stopped_early=self.stopped_early,
            planned_epochs=self.settings.epochs,
        )


def _fit_epoch(run: _Run, train: _Pipeline, val: Any, stop: _StopRequest, epoch: int) -> Epoch | None:
    """One epoch; None when a signal stopped it (the partial epoch is discarded)."""
    from layerspec.compile import keras_module

    keras = keras_module()
    settings, total = run.settings, run.settings.epochs
    rate = learning_rate(settings.schedule, settings.optimizer.learning_rate, epoch, total, run.history)
    run.model.optimizer.learning_rate.assign(rate)
    if settings.strategy.type == "multi_worker":  # Keras's fit does not run under that strategy: layerspec's loop
        from layerspec.train.distributed import fit_epoch

        return fit_epoch(run, train, run.dataset.val, stop, epoch, rate)
    steps = math.ceil(len(run.dataset.train) / settings.batch_size)
    log_dir = run.run_dir / folder.TENSORBOARD if settings.tensorboard else None
    started = time.perf_counter()
    try:
        fitted = run.model.fit(
            train.epoch(epoch),
            initial_epoch=epoch,
            epochs=epoch + 1,
            verbose=0,
            shuffle=False,  # the pipeline already shuffled this epoch, by (seed, epoch)
            validation_data=val,
            callbacks=_callbacks(keras, stop, run.progress, steps, epoch, total, log_dir),
        )
    except _StopNow:
        return None
    seconds = time.perf_counter() - started
    logs = {key: float(values[-1]) for key, values in sorted(fitted.history.items(), key=_log_order)}
    return Epoch.model_validate({"epoch": epoch + 1, **logs, "learning_rate": rate, "seconds": seconds})


def _log_order(item: tuple[str, Any]) -> tuple[bool, bool, str]:
    """loss, metrics, then val_loss, val_metrics (the order Keras prints them in)."""
    key = item[0]
    return key.startswith("val_"), key.removeprefix("val_") != "loss", key


def _epoch_line(record: Epoch, total: int, best: bool) -> str:
    skip = {"epoch", "learning_rate", "seconds"}
    logged = sorted(((k, v) for k, v in record.record().items() if k not in skip), key=_log_order)
    figures = "  ".join(f"{k} {v:.4f}" for k, v in logged)
    mark = "  *" if best else ""
    rate, seconds = record["learning_rate"], record["seconds"]
    return f"epoch {record.epoch}/{total}  {figures}  lr {rate:.2e}  {seconds:.1f}s{mark}\n"


def _after_epoch(run: _Run, record: Epoch) -> bool:
    """Record the epoch, checkpoint it, and say whether to stop early."""
    run.history.append(record)
    keep_best = run.settings.keep.weights == "best"
    is_best = keep_best and best_epoch(run.history, run.monitor) == len(run.history) - 1
    if is_best:
        _save_weights(run.run_dir / BEST_WEIGHTS, run.model)
    save_checkpoint(run.run_dir / CHECKPOINT, run.model, run.state())
    prefix = "\r" + " " * 100 + "\r" if run.progress.bar else ""
    run.progress.write(prefix + _epoch_line(record, run.settings.epochs, is_best))
    if isinstance(run.progress.display, EpochObserver):
        run.progress.display.epoch_done(record.record())
    stopping = run.settings.early_stopping
    if stopping is None:
        return False
    values = [r[stopping.monitor] for r in run.history]
    waited = epochs_without_improvement(values, stopping.monitor, stopping.min_delta)
    return waited > 0 and waited >= stopping.patience  # Keras's EarlyStopping rule


def _loop(run: _Run, start: int) -> None:
    spec = data_spec(run.loaded)
    classes = len(run.dataset.class_names)
    seeds = (spec.shuffle_seed, run.settings.seed)
    train = _Pipeline.from_split(run.dataset.train, spec.labels, classes, run.settings.batch_size, seeds)
    train.augment = run.settings.augment
    val_split = run.dataset.val
    val = None
    if val_split is not None and len(val_split):
        val = _Pipeline.from_split(val_split, spec.labels, classes, run.settings.batch_size, ()).epoch(None)
    stop = _StopRequest()
    with stop_on_signals(stop):
        for epoch in range(start, run.settings.epochs):
            record = _fit_epoch(run, train, val, stop, epoch)
            if record is None:
                _interrupted(run, stop)
            if _after_epoch(run, record):
                run.stopped_early = True
                save_checkpoint(run.run_dir / CHECKPOINT, run.model, run.state())
                break
            if stop.signum is not None:  # came in after the last batch (during validation): epoch kept
                _interrupted(run, stop)


def _interrupted(run: _Run, stop: _StopRequest) -> NoReturn:
    """Save the state of the last complete epoch (the one --resume continues from) and stop with exit code 130."""
    checkpoint = run.run_dir / CHECKPOINT
    if not checkpoint.is_file():
        raise Interrupted(str(run.run_dir), "interrupted before a checkpoint existed")
    interrupted = {"signal": stop.signum, "epoch": stop.epoch, "batch": stop.batch}
    RunFolder(run.run_dir).write(folder.INTERRUPTED, run.state().model_copy(update={"interrupted": interrupted}))
    name = signal.Signals(stop.signum).name if stop.signum is not None else "signal"
    where = f"during epoch {stop.epoch} (after batch {stop.batch})" if stop.epoch else f"after epoch {len(run.history)}"
    raise Interrupted(
        str(checkpoint),
        f"{name} {where}: stopped; checkpoint of epoch {len(run.history)} saved; continue with "
        f"`layerspec train {run.run_dir} --resume`",
    )
