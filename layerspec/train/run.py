"""`train_run`: train a spec into a run folder (fresh, or resumed from its checkpoint)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from layerspec.data import Dataset, data_root, load_dataset, shown_path
from layerspec.errors import DataError, UsageError
from layerspec.rules.runtime import check_training_data
from layerspec.run import Epoch
from layerspec.spec import LoadedSpec
from layerspec.spec.train import TrainSpec
from layerspec.train.built import Built
from layerspec.train.checkpoint import (
    CHECKPOINT,
    load_checkpoint,
    read_checkpoint_state,
    require_checkpoint,
    save_checkpoint,
)
from layerspec.train.loop import Progress, _loop, _Progress, _Run
from layerspec.train.model import build_model
from layerspec.train.options import TrainOptions, train_settings
from layerspec.train.records import TrainResult, _finish
from layerspec.train.runtime import make_strategy, prepare_runtime, resolve_precision


def train_run(
    run_dir: Path,
    built: Built | LoadedSpec,
    options: TrainOptions,
    progress: Progress | None = None,
    dataset: Dataset | None = None,
) -> TrainResult:
    """Train the built model into `run_dir`; the result names the run folder, its epochs and its test figures.

    `built` is the model `build` made (`Built.in_process`, `Built.from_run`); a spec on its own is checked here
    (`Built.from_spec`). `dataset` is the spec's data when the caller already read (and so checked) it.
    """
    started = datetime.now(UTC)
    built = built if isinstance(built, Built) else Built.from_spec(built)
    loaded = built.loaded
    settings, history = _settings_and_history(run_dir, loaded, options)
    root = (options.data_dir or data_root(loaded)).resolve()
    dataset = dataset if dataset is not None else load_dataset(loaded, shown_path(root), target=built.target)
    check_training_data(loaded, settings, dataset.counts())
    prepare_runtime(settings)
    out_dir = run_dir  # a worker other than the chief is given its scratch folder (layerspec.train.worker)
    strategy = make_strategy(settings, loaded)  # before anything lists devices: a multi-worker strategy must come first
    precision = resolve_precision(settings)
    settings = settings.model_copy(update={"mixed_precision": precision.chosen})
    model = build_model(built.model(), loaded, settings, strategy, set(built.outputs))
    run = _Run(out_dir, loaded, settings, dataset, model, _Progress(progress), strategy.num_replicas_in_sync, precision)
    if history is not None:
        state = load_checkpoint(out_dir / CHECKPOINT, model)
        run.history = list(state.history)
        run.stopped_early = state.stopped_early
    if not options.resume:
        save_checkpoint(out_dir / CHECKPOINT, model, run.state())  # epoch 0: what an early interrupt resumes from
    if not run.stopped_early:
        _loop(run, len(run.history))
    return _finish(run, options, started, root)


def _settings_and_history(
    run_dir: Path, loaded: LoadedSpec, options: TrainOptions
) -> tuple[TrainSpec, list[Epoch] | None]:
    """Settings with overrides; on --resume, the checkpoint's seed and a check that the spec did not change."""
    if not options.resume:
        return train_settings(loaded, options), None
    path = require_checkpoint(run_dir)
    state = read_checkpoint_state(path)
    if state.spec_sha256 != loaded.sha256:
        raise UsageError("the spec changed since the checkpoint was saved; train afresh without --resume", str(path))
    if options.seed is not None and options.seed != state.seed:
        raise UsageError(f"the checkpoint was trained with seed {state.seed}, not {options.seed}", str(path))
    planned = state.planned_epochs or train_settings(loaded).epochs
    epochs = resumed_epochs(options, planned, len(state.history), run_dir)
    settings = train_settings(loaded, TrainOptions(epochs=epochs, seed=state.seed, tensorboard=options.tensorboard))
    history = list(state.history)
    _check_resumed_figures(history, settings, path)
    return settings, history


def _check_resumed_figures(history: list[Epoch], settings: TrainSpec, path: Path) -> None:
    """Every figure the rest of training looks at is in every epoch of the checkpoint's history."""
    needed = {"loss", "learning_rate", "seconds"}
    if settings.keep.weights == "best":
        needed.add(settings.keep.monitor)
    if settings.early_stopping is not None:
        needed.add(settings.early_stopping.monitor)
    if settings.schedule.type == "reduce_on_plateau":
        needed.add(settings.schedule.monitor)
    for record in history:
        written = record.record()
        missing = sorted(key for key in needed if written.get(key) is None)
        if missing:
            raise DataError(str(path), f"epoch {record.epoch} of its history has no {', '.join(missing)}")


def resumed_epochs(options: TrainOptions, planned: int, done: int, run_dir: Path) -> int:
    """The epochs a resumed run trains to: those it was planned for, unless --extend asks for another total.

    A schedule such as cosine is a function of the total: a silent new total would change the rates of the
    epochs still to come, and, on a finished run, train on with rates it was never meant to have.
    """
    if options.epochs is None or options.epochs == planned:
        return planned
    if not options.extend:
        raise UsageError(
            f"the run's schedule was planned for {planned} epoch{'s' * (planned != 1)}, not {options.epochs}: resume "
            f"without --epochs to finish it as planned, add --extend to train on to {options.epochs} epochs (the "
            "schedule planned anew for them from the next epoch), or start a longer run with `layerspec train SPEC "
            f"--epochs {options.epochs} --out runs/NEW_NAME`",
            str(run_dir),
        )
    if options.epochs < done:
        raise UsageError(f"the run has already trained {done} epochs: --extend needs more than that", str(run_dir))
    return options.epochs
