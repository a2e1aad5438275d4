"""The sweep's study and trials: each trial trains the spec with its overrides into a run folder of its own.

The study lives in an Optuna storage (by default a SQLite file in the sweep folder); several `layerspec sweep`
processes, on one machine or several, given the same storage and study name share one search. Each reports every
epoch's objective to the study, whose median pruner stops a trial that is worse than the others were at the
same epoch.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerspec.errors import Diagnostic, LayerspecError, UsageError
from layerspec.spec import LoadedSpec
from layerspec.sweep.records import SWEEP_FILE, BestTrial, Direction, SweepRecord, TrialRecord
from layerspec.sweep.space import Param, override_text, read_space
from layerspec.train.interrupt import Interrupted
from layerspec.train.loop import Progress

SWEEPS_DIR = Path("sweeps")
JOURNAL = "journal:"  # `--storage journal:PATH`: Optuna's journal file storage
SQLITE_WAIT_SECONDS = 120  # another process holding the SQLite file's lock: wait for it rather than fail


@dataclass(frozen=True)
class SweepOptions:
    spec: Path
    space: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()  # `--set`, applied to every trial beneath the trial's own values
    trials: int = 10
    storage: str | None = None
    study: str | None = None
    objective: str = "val_loss"
    out: Path | None = None
    data_dir: Path | None = None
    epochs: int | None = None


class TrialDisplay:
    """A trial's display: the user's, each line prefixed by the trial; each epoch's objective goes to the study."""

    def __init__(self, trial: Any, objective: str, display: Progress | None, epochs: int) -> None:
        self.trial, self.objective, self.display, self.epochs = trial, objective, display, epochs

    @property
    def bar(self) -> bool:
        return False

    def write(self, text: str) -> None:
        if self.display is not None:
            self.display.write(f"trial {self.trial.number}: {text}")

    def warn(self, warnings: Iterable[Diagnostic]) -> None:
        """A spec's warnings are the same for every trial; the sweep showed them once before the first."""

    def note(self, text: str) -> None:
        self.write(text + "\n")

    def epoch_done(self, record: dict[str, Any]) -> None:
        import optuna

        value = record.get(self.objective)
        if value is None:
            figures = ", ".join(key for key in record if key.startswith("val_")) or "none"
            raise UsageError(
                f"--objective {self.objective}: the training logs no such figure (its validation figures: "
                f"{figures}); a validation metric needs data.validation_split or data.validation"
            )
        self.trial.report(float(value), int(record["epoch"]))
        # Stopping after the last epoch would save nothing and lose the trial's value.
        if int(record["epoch"]) < self.epochs and self.trial.should_prune():
            raise _pruned(optuna)


def _pruned(optuna: Any) -> BaseException:
    """Optuna's TrialPruned, marked so that the trial's run keeps the checkpoint of its last epoch."""

    class Pruned(optuna.TrialPruned):  # type: ignore[misc]  # optuna is untyped here
        keeps_checkpoint = True

    return Pruned()


def check_objective(objective: str, loaded: LoadedSpec) -> Direction:
    """The study's direction for `objective`; UsageError for a test metric or one the spec does not log."""
    from layerspec.train.options import train_settings

    if objective.startswith("test_"):
        raise UsageError(
            f"--objective {objective}: a test-set figure is never a sweep's objective (choosing by the test set "
            "makes its figures meaningless): choose by a validation figure such as val_loss or val_accuracy"
        )
    allowed = ["val_loss", *(f"val_{metric}" for metric in train_settings(loaded).metrics)]
    if objective not in allowed:
        raise UsageError(
            f"--objective {objective}: not a validation figure this spec logs (one of {', '.join(allowed)})"
        )
    return "minimize" if "loss" in objective else "maximize"


def sweep(options: SweepOptions, loaded: LoadedSpec, display: Progress | None, command: str) -> SweepRecord:
    """Run `options.trials` trials of the study (created, or continued); the record covers all its trials."""
    direction = check_objective(options.objective, loaded)
    params = read_space(list(options.space), loaded.spec.search)
    out = options.out if options.out is not None else SWEEPS_DIR / loaded.spec.name
    out.mkdir(parents=True, exist_ok=True)
    name = options.study or loaded.spec.name
    _check_folder(out, name)
    storage = options.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study = _study(storage, name, direction)

    def record() -> SweepRecord:  # read afresh from the storage each time: other processes add trials
        return _record(study, storage, options, direction)

    from layerspec.train.options import train_settings

    epochs = options.epochs or train_settings(loaded).epochs
    objective = _objective(options, params, out, display, command, epochs)
    try:
        study.optimize(objective, n_trials=options.trials, callbacks=[lambda *_: _save(out, record())])
    except (Interrupted, KeyboardInterrupt):
        _save(out, record())
        raise Interrupted(
            str(out),
            f"stopped; the trial under way is marked failed in study '{name}'; run the same `layerspec sweep` "
            "again to continue the study",
        ) from None
    except LayerspecError:
        _save(out, record())
        raise
    result = record()
    _save(out, result)
    return result


def _objective(
    options: SweepOptions, params: list[Param], out: Path, display: Progress | None, command: str, epochs: int
) -> Any:
    from layerspec.train import TrainOptions, train_spec_or_run

    def objective(trial: Any) -> float:
        from layerspec.compile import keras_module

        keras_module().backend.clear_session()  # each trial builds its model afresh, not beside the last one's
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # a model per trial retraces its steps: TensorFlow's warning is noise here
        texts = tuple(override_text(p.key, p.suggest(trial)) for p in params)
        run_dir = out / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        overrides = (*options.overrides, *texts)
        again = ["layerspec", "train", str(options.spec), *[a for t in overrides for a in ("--set", t)]]
        train = TrainOptions(options.epochs, None, options.data_dir, False, shlex.join(again), overrides)
        trial.set_user_attr("command", f"{command}  # trial {trial.number}: {shlex.join(again)}")
        result = train_spec_or_run(
            options.spec, train, TrialDisplay(trial, options.objective, display, epochs), out=run_dir
        )
        kept = result.history[result.kept_epoch - 1] if result.kept_epoch else result.history[-1]
        return float(kept.model_dump()[options.objective])

    return objective


def _study(storage: str, name: str, direction: Direction) -> Any:
    """The study, created or loaded. Processes that start together would race to create the storage's tables
    (SQLite answers "table ... already exists"): for a SQLite file they take turns by a lock file beside it, and
    any storage gets a second try."""
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(3):
        try:
            with _sqlite_lock(storage):
                study = _create(optuna, storage, name, direction)
            break
        except sqlalchemy.exc.SQLAlchemyError as exc:
            if attempt == 2:
                raise UsageError(
                    f"--storage {storage}: cannot open the study: {exc.__class__.__name__}: {exc}"
                ) from None
        except (ValueError, ImportError) as exc:  # a URL SQLAlchemy cannot read, or a database driver not installed
            raise UsageError(f"--storage {storage}: {exc}") from None
    if study.direction.name.lower() != direction:
        raise UsageError(f"study '{name}' in {storage} was created to {study.direction.name.lower()}, not {direction}")
    return study


def _create(optuna: Any, storage: str, name: str, direction: Direction) -> Any:
    if storage.startswith(JOURNAL):  # Optuna's journal file: one file many processes append to, no database
        from optuna.storages.journal import JournalFileBackend

        backend: Any = optuna.storages.JournalStorage(JournalFileBackend(storage.removeprefix(JOURNAL)))
    else:
        engine = {"connect_args": {"timeout": SQLITE_WAIT_SECONDS}} if storage.startswith("sqlite:") else {}
        backend = optuna.storages.RDBStorage(storage, engine_kwargs=engine)
    return optuna.create_study(
        storage=backend,
        study_name=name,
        direction=direction,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        load_if_exists=True,
    )


@contextmanager
def _sqlite_lock(storage: str) -> Iterator[None]:
    """An exclusive lock on `<file>.lock` beside a SQLite file while the study is created; nothing for others."""
    path = storage.removeprefix("sqlite:///") if storage.startswith("sqlite:///") else None
    if not path:
        yield
        return
    import fcntl

    with open(f"{path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_folder(out: Path, name: str) -> None:
    """One sweep folder holds one study (its trials' folders are numbered by it)."""
    path = out / SWEEP_FILE
    if not path.is_file():
        return
    previous = read_sweep(out)
    if previous.study != name:
        raise UsageError(
            f"{out} holds the sweep of study '{previous.study}', not '{name}': give another --out", str(out)
        )


def read_sweep(out: Path) -> SweepRecord:
    """The sweep folder's sweep.json (DataError when it cannot be read or is not one)."""
    from layerspec.run import RunFolder

    record = RunFolder(out).read(SWEEP_FILE, SweepRecord)
    if record is None:
        raise UsageError(f"{out} is not a sweep folder: it has no {SWEEP_FILE}", str(out))
    return record


def _record(study: Any, storage: str, options: SweepOptions, direction: Direction) -> SweepRecord:
    trials = [
        TrialRecord(
            number=t.number,
            value=t.value if t.state.name == "COMPLETE" else None,
            params=dict(t.params),
            state=t.state.name,
            run_dir=t.user_attrs.get("run_dir"),
        )
        for t in study.get_trials(deepcopy=False)
    ]
    done = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    pick = min if direction == "minimize" else max
    best = pick(done, key=lambda t: t.value or 0.0) if done else None
    return SweepRecord(
        study=study.study_name,
        storage=storage,
        objective=options.objective,
        direction=direction,
        spec_path=str(options.spec.resolve()),
        trials=trials,
        best=None
        if best is None
        else BestTrial(number=best.number, value=best.value or 0.0, params=best.params, run_dir=best.run_dir),
    )


def _save(out: Path, record: SweepRecord) -> None:
    from layerspec.artifacts import write_text

    write_text(out / SWEEP_FILE, record.model_dump_json(indent=2) + "\n")
