"""`layerspec train` as one library call: a spec is built first, a run folder is trained in place.

A run that holds training results is never changed file by file: its replacement is built and trained in a
hidden folder beside it and takes its place in one step at the end (see `layerspec.run.replace`).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from layerspec.data import Dataset
from layerspec.errors import Diagnostic, UsageError
from layerspec.run import RunFolder, current_run, folder, resolve_run
from layerspec.run.folder import RUNS_DIR
from layerspec.run.replace import back_to_built
from layerspec.spec import LoadedSpec
from layerspec.train.built import Built
from layerspec.train.interrupt import Interrupted
from layerspec.train.loop import Progress
from layerspec.train.options import TrainOptions
from layerspec.train.records import TrainResult


class Display(Progress, Protocol):
    """What the command line shows while a spec is built and trained: the epochs, the spec's warnings, notes."""

    def warn(self, warnings: Iterable[Diagnostic]) -> None:
        """The spec's warnings, once it is built (they never stop it)."""
        ...

    def note(self, text: str) -> None:
        """Something the user did not ask for but should know (the run went to another folder than expected)."""
        ...


def train_spec_or_run(
    spec_or_run: Path | None,
    options: TrainOptions,
    display: Display | None = None,
    *,
    out: Path | None = None,
    overwrite: bool = False,
) -> TrainResult:
    """Train a spec file (built first, into `out` or runs/<name>), a run folder, or (None) the current run.

    The spec is loaded and checked once: a spec file by the build, whose verified model is trained in process;
    a run folder's model is read back from it (model.keras, summary.json), not compiled again.
    """
    from layerspec.train.runtime import is_chief

    if not is_chief():  # another worker of a multi-worker job: only the chief writes the run folder
        from layerspec.train.worker import train_worker

        return train_worker(spec_or_run, options, display, out)
    trained = _training_run(spec_or_run, out, options)
    if isinstance(trained, Built):
        return _train_in_place(trained, options, display)
    return _build_and_train(trained, out, options, display, overwrite=overwrite)


def _training_run(spec_or_run: Path | None, out: Path | None, options: TrainOptions) -> Built | LoadedSpec:
    """The run folder to train in place (its built model), or the loaded spec that is built first."""
    if spec_or_run is None or spec_or_run.is_dir():
        if out is not None:
            raise UsageError("--out applies when training a spec file; a run folder is trained in place")
        if options.overrides:
            raise UsageError(
                "--set applies to a spec file; a run folder trains the spec (and overrides) it was built with"
            )
        run_dir = current_run() if spec_or_run is None else resolve_run(spec_or_run)
        return Built.from_run(run_dir)
    if not spec_or_run.exists():
        raise UsageError(f"{spec_or_run}: no such spec file or run folder")
    from layerspec.check import load_reporting_all

    loaded = load_reporting_all(spec_or_run, options.overrides)
    if options.resume:  # the spec file's run, continued from its checkpoint (which must be of this very spec)
        from layerspec.train.checkpoint import require_checkpoint

        run_dir = out if out is not None else RUNS_DIR / loaded.spec.name
        require_checkpoint(run_dir)
        return Built.from_run(run_dir, loaded)
    return loaded


def _train_in_place(built: Built, options: TrainOptions, display: Display | None) -> TrainResult:
    """Train a run folder; one that holds training results is trained afresh beside it and replaced at the end."""
    from layerspec.run import folder, set_current_run
    from layerspec.run.replace import publish, staged
    from layerspec.train.run import train_run

    run_dir = built.run_dir
    assert run_dir is not None  # read from a run folder
    if options.resume or not RunFolder(run_dir).training_results():
        return train_run(run_dir, built, options, display)
    with staged(run_dir) as staging:
        for name in folder.BUILD_FILES:  # the build, without the results it is about to replace
            if (run_dir / name).is_file():  # a plain copy: the hidden folder is complete or discarded as a whole
                shutil.copy2(run_dir / name, staging.file(name))
        result = _train_staged(staging, run_dir, built, options, display, None)
        publish(staging, run_dir)
    set_current_run(run_dir)
    return result


def _build_and_train(
    loaded: LoadedSpec, out: Path | None, options: TrainOptions, display: Display | None, *, overwrite: bool
) -> TrainResult:
    """Check the spec and the data (bad data fails before anything is built), build the spec, then train the
    model the build compiled and verified.

    A new run folder is published once built and trained in place, so that an interrupted training can be
    resumed. A run that is replaced (`--overwrite`, or a build-only run of this spec) is built and trained in a
    hidden folder beside it that takes its place only at the end: until then it stays exactly as it was.
    """
    from layerspec.build import compile_verified, write_build
    from layerspec.check import check_loaded
    from layerspec.data import load_dataset
    from layerspec.rules.runtime import check_training_data
    from layerspec.run import set_current_run
    from layerspec.run.replace import choose_target, publish, staged
    from layerspec.train.built import checked_target
    from layerspec.train.options import train_settings
    from layerspec.train.runtime import check_devices, prepare_runtime

    settings = train_settings(loaded, options)
    checked = check_loaded(loaded)  # the one check: building and reading the data use what it found
    dataset = load_dataset(loaded, options.data_dir, target=checked_target(checked))
    check_training_data(loaded, settings, dataset.counts())
    # Thread pools can only be sized before TensorFlow runs its first op, which building does.
    prepare_runtime(settings)
    if settings.strategy.type == "mirrored" and settings.strategy.devices is not None:
        check_devices(loaded, settings.strategy.devices)  # a device that is not there: refused before building
    target = choose_target(out, loaded.spec.name, loaded.sha256, overwrite=overwrite, spec_path=loaded.path)
    built = Built.in_process(checked, compile_verified(checked))
    if display is not None:
        display.warn(checked.warnings)
        if target.note:
            display.note(target.note)
    with staged(target.path) as staging:
        write_build(staging, checked, built.model(), rankdir="TB", command=options.command)
        if not target.path.exists():
            run = publish(staging, target.path)
            set_current_run(run.path)
            return _train_new(run, built, options, display, dataset)
        result = _train_staged(staging, target.path, built, options, display, dataset)
        publish(staging, target.path)
    set_current_run(target.path)
    return result


def _train_new(
    run: RunFolder, built: Built, options: TrainOptions, display: Display | None, dataset: Dataset
) -> TrainResult:
    """Train a run folder just published. Training that fails leaves it as built (the checkpoint it began is
    removed); one that is interrupted, or loses a worker, keeps its checkpoint, which `train RUN --resume`
    continues."""
    from layerspec.train.run import train_run

    try:
        return train_run(run.path, built, options, display, dataset)
    except BaseException as exc:
        interrupted = isinstance(exc, Interrupted) and run.file(folder.INTERRUPTED).is_file()
        # A lost worker or a pruned sweep trial stops between epochs on purpose: the last complete epoch's
        # checkpoint stays, for --resume.
        stopped = getattr(exc, "keeps_checkpoint", False) and run.file(folder.CHECKPOINT).is_file()
        if not (interrupted or stopped):
            back_to_built(run)
        raise


def _train_staged(
    staging: RunFolder,
    target: Path,
    built: Built,
    options: TrainOptions,
    display: Display | None,
    dataset: Dataset | None,
) -> TrainResult:
    """Train in the hidden folder; the result names the folder it will become."""
    from layerspec.train.run import train_run

    try:
        result = train_run(staging.path, built, options, display, dataset)
    except (Interrupted, KeyboardInterrupt):  # a stop requested during the epochs, or a signal before them
        raise Interrupted(
            str(target),
            f"stopped before training finished: {target} is exactly as it was; the new run was discarded "
            "(train again to replace it)",
        ) from None
    return result.moved_to(target)
