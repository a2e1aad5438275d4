"""`train_run`: train a spec into a run folder (fresh, or resumed from its checkpoint)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from layerspec.check import check_loaded
from layerspec.data import Dataset, data_root, load_dataset
from layerspec.errors import DataError, UsageError
from layerspec.rules.runtime import check_training_data
from layerspec.spec import LoadedSpec
from layerspec.spec.train import TrainSpec
from layerspec.train.checkpoint import CHECKPOINT, load_checkpoint, read_checkpoint_state, save_checkpoint
from layerspec.train.loop import Progress, _loop, _Progress, _Run
from layerspec.train.model import build_model
from layerspec.train.options import TrainOptions, train_settings
from layerspec.train.records import TrainResult, _finish
from layerspec.train.runtime import make_strategy, prepare_runtime, resolve_precision


def train_run(
    run_dir: Path,
    loaded: LoadedSpec,
    options: TrainOptions,
    progress: Progress | None = None,
    dataset: Dataset | None = None,
) -> TrainResult:
    """Train the spec into `run_dir`; the result names the run folder, its epochs and its test figures.

    `dataset` is the spec's data when the caller already loaded (and so checked) it.
    """
    started = datetime.now(UTC)
    settings, history = _settings_and_history(run_dir, loaded, options)
    root = (options.data_dir or data_root(loaded)).resolve()
    check_loaded(loaded)  # every rule that needs only the spec, before any data is read
    dataset = dataset if dataset is not None else load_dataset(loaded, root)
    check_training_data(loaded, settings, dataset.counts())
    prepare_runtime(settings)
    out_dir = run_dir  # a worker other than the chief is given its scratch folder (layerspec.train.worker)
    strategy = make_strategy(settings, loaded)  # before anything lists devices: a multi-worker strategy must come first
    precision = resolve_precision(settings)
    settings = settings.model_copy(update={"mixed_precision": precision.chosen})
    model = build_model(loaded, settings, strategy)
    run = _Run(out_dir, loaded, settings, dataset, model, _Progress(progress), strategy.num_replicas_in_sync, precision)
    if history is not None:
        state = load_checkpoint(out_dir / CHECKPOINT, model)
        run.history = [epoch.record() for epoch in state.history]
        run.stopped_early = state.stopped_early
    if not options.resume:
        save_checkpoint(out_dir / CHECKPOINT, model, run.state())  # epoch 0: what an early interrupt resumes from
    if not run.stopped_early:
        _loop(run, len(run.history))
    return _finish(run, options, started, root)


def _settings_and_history(
    run_dir: Path, loaded: LoadedSpec, options: TrainOptions
) -> tuple[TrainSpec, list[dict[str, Any]] | None]:
    """Settings with overrides; on --resume, the checkpoint's seed and a check that the spec did not change."""
    if not options.resume:
        return train_settings(loaded, options), None
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist (train without --resume first)", str(run_dir))
    state = read_checkpoint_state(path)
    if state.spec_sha256 != loaded.sha256:
        raise UsageError("the spec changed since the checkpoint was saved; train afresh without --resume", str(path))
    if options.seed is not None and options.seed != state.seed:
        raise UsageError(f"the checkpoint was trained with seed {state.seed}, not {options.seed}", str(path))
    settings = train_settings(loaded, TrainOptions(epochs=options.epochs, seed=state.seed))
    history = [epoch.record() for epoch in state.history]
    _check_resumed_figures(history, settings, path)
    return settings, history


def _check_resumed_figures(history: list[dict[str, Any]], settings: TrainSpec, path: Path) -> None:
    """Every figure the rest of training looks at is in every epoch of the checkpoint's history."""
    needed = {"loss", "learning_rate", "seconds"}
    if settings.keep.weights == "best":
        needed.add(settings.keep.monitor)
    if settings.early_stopping is not None:
        needed.add(settings.early_stopping.monitor)
    if settings.schedule.type == "reduce_on_plateau":
        needed.add(settings.schedule.monitor)
    for record in history:
        missing = sorted(key for key in needed if record.get(key) is None)
        if missing:
            raise DataError(str(path), f"epoch {record['epoch']} of its history has no {', '.join(missing)}")
