"""`RunFolder`: the one place that knows a run folder's file names, writes them and reads them back.

A run folder's stage follows from which files it holds: `build.json` (written last by `build`) marks a complete
build, `train.json` (written last by `train`) a finished training, `metrics.json` an evaluation; a checkpoint
without `train.json` is a training that was interrupted (and can be resumed with `train RUN --resume`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from layerspec import artifacts
from layerspec.errors import DataError, UsageError
from layerspec.files import read_text_limited
from layerspec.run.checks import parse_json, read_json, validate
from layerspec.run.models import (
    FORMAT_VERSION,
    BuildInfo,
    CheckpointState,
    CurrentRun,
    History,
    Metrics,
    Record,
    Summary,
    TrainInfo,
)

RecordT = TypeVar("RecordT", bound=Record)

SPEC = "spec.yaml"
BUILD = "build.json"
SUMMARY_JSON = "summary.json"
SUMMARY_TXT = "summary.txt"
MODEL = "model.keras"
DOT, SVG, PNG = "model.dot", "model.svg", "model.png"
HISTORY, HISTORY_CSV, METRICS, TRAIN = "history.json", "history.csv", "metrics.json", "train.json"
CHECKPOINTS = "checkpoints"
CHECKPOINT = f"{CHECKPOINTS}/last.npz"
BEST_WEIGHTS = f"{CHECKPOINTS}/best.npz"
TENSORBOARD = "tensorboard"  # event files of train.tensorboard: train/ and validation/, as Keras writes them
INTERRUPTED = f"{CHECKPOINTS}/state.json"
# What `build` writes, in the order it is published (build.json last: its presence marks a complete build).
BUILD_FILES = (SPEC, SUMMARY_TXT, SUMMARY_JSON, DOT, SVG, PNG, MODEL, BUILD)
# What training adds: the results a later command must never lose unless told to (--overwrite).
TRAINING_FILES = (TRAIN, HISTORY, HISTORY_CSV, METRICS, CHECKPOINTS, TENSORBOARD)

RUNS_DIR = Path("runs")
CURRENT_RUN_FILE = RUNS_DIR / ".current"


# The JSON files of a run and the model each is read and written as (checkpoints/last.npz holds a
# CheckpointState too, inside the archive).
RECORDS: dict[str, type[Record]] = {
    BUILD: BuildInfo,
    SUMMARY_JSON: Summary,
    HISTORY: History,
    METRICS: Metrics,
    TRAIN: TrainInfo,
    INTERRUPTED: CheckpointState,
}


class Stage(enum.StrEnum):
    BUILT = "built"
    INTERRUPTED = "interrupted"
    TRAINED = "trained"
    EVALUATED = "evaluated"


# What marks each stage, as `RunFolder.stage` decides it (the run-folder page is generated from this).
STAGE_MARKS = {
    Stage.BUILT: f"`{BUILD}`, no `{TRAIN}` and no checkpoint",
    Stage.INTERRUPTED: f"`{CHECKPOINT}` but no `{TRAIN}`: `train RUN --resume` continues it",
    Stage.TRAINED: f"`{TRAIN}` (written last by `train`), no `{METRICS}`",
    Stage.EVALUATED: f"`{TRAIN}` and `{METRICS}`",
}


@dataclass(frozen=True)
class RunFolder:
    path: Path

    def file(self, name: str) -> Path:
        return self.path / name

    # ------------------------------------------------------------------------------------------- what it is

    def is_run(self) -> bool:
        """A run folder: one that holds the spec it was built from."""
        return self.path.is_dir() and self.file(SPEC).is_file()

    def training_results(self) -> list[str]:
        """The files and folders training left here (empty for a run that is only built)."""
        return [name for name in TRAINING_FILES if self.file(name).exists()]

    def stage(self) -> Stage | None:
        """How far the run got; None when this is not a (complete) run folder."""
        if not self.is_run() or not self.file(BUILD).is_file():
            return None
        if not self.file(TRAIN).is_file():
            return Stage.INTERRUPTED if self.file(CHECKPOINT).is_file() else Stage.BUILT
        return Stage.EVALUATED if self.file(METRICS).is_file() else Stage.TRAINED

    def require(self) -> RunFolder:
        """This folder, or UsageError (exit 2) when it is not a run folder."""
        if not self.is_run():
            raise UsageError(f"{self.path} is not a run folder (it has no {SPEC}): build one with `layerspec build`")
        return self

    # ------------------------------------------------------------------------------------------- reading

    def read(self, name: str, model: type[RecordT]) -> RecordT | None:
        """The file `name` read as `model`, or None when the run has no such file."""
        path = self.file(name)
        if not path.is_file():
            return None
        return read_record(read_json(path), model, path)

    def build(self) -> BuildInfo | None:
        return self.read(BUILD, BuildInfo)

    def train(self) -> TrainInfo | None:
        return self.read(TRAIN, TrainInfo)

    def history(self) -> History | None:
        return self.read(HISTORY, History)

    def metrics(self) -> Metrics | None:
        return self.read(METRICS, Metrics)

    def summary(self) -> Summary | None:
        return self.read(SUMMARY_JSON, Summary)

    # ------------------------------------------------------------------------------------------- writing

    def write(self, name: str, record: Record) -> Path:
        """`record` as `name`, written atomically (a temporary file beside it, then `os.replace`)."""
        text = record.model_dump_json(indent=2, by_alias=True, exclude_none=True)
        return artifacts.write_text(self.file(name), text + "\n")

    def write_text(self, name: str, text: str) -> Path:
        return artifacts.write_text(self.file(name), text)

    def write_bytes(self, name: str, data: bytes) -> Path:
        return artifacts.write_bytes(self.file(name), data)


def read_record(raw: Any, model: type[RecordT], path: Path | str) -> RecordT:
    """`raw` as `model`, after checking its format version: a newer one than this layerspec's is refused."""
    version = raw.get("format_version", 0) if isinstance(raw, dict) else 0
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise DataError(
            str(path),
            f"format_version {version}: written by a newer layerspec (this one reads run files up to version "
            f"{FORMAT_VERSION}): upgrade layerspec to read it",
        )
    if isinstance(raw, dict) and "format_version" not in raw:
        raw = {**raw, "format_version": 0}  # written before the format was versioned
    return validate(raw, model, path)


def checkpoint_state(text: str, path: Path) -> CheckpointState:
    """The JSON state stored in a checkpoint (`last.npz`), checked."""
    return read_record(parse_json(text, path), CheckpointState, path)


# ------------------------------------------------------------------------------------------------ runs/.current


def set_current_run(run_dir: Path) -> None:
    """Remember `run_dir` as the run that `train`, `evaluate` and `report` use when given none."""
    record = CurrentRun(run=str(run_dir.resolve()))
    artifacts.write_text(CURRENT_RUN_FILE, record.model_dump_json() + "\n")


def current_run() -> Path:
    """The current run folder, or UsageError saying there is none (or it is gone)."""
    try:
        text = read_text_limited(CURRENT_RUN_FILE, 64 * 1024)  # a FIFO or device there is refused, not read
    except (OSError, UnicodeDecodeError):
        raise UsageError("no current run: run `layerspec build SPEC` first, or name a run folder") from None
    run_dir = Path(_current_path(text))
    try:
        exists = run_dir.is_dir()
    except (OSError, ValueError):  # runs/.current edited into something that is not a path
        exists = False
    if not exists:
        raise UsageError(f"the current run folder {run_dir} no longer exists: run `layerspec build SPEC` again")
    return run_dir


def _current_path(text: str) -> str:
    """The path a JSON record names; a file written before the record (a bare path) is read as that path."""
    if not text.lstrip().startswith("{"):
        return text.strip()
    return read_record(parse_json(text, CURRENT_RUN_FILE), CurrentRun, CURRENT_RUN_FILE).run


def resolve_run(run: Path | None) -> Path:
    """The run folder named on the command line, or the current one."""
    if run is None:
        return current_run()
    return RunFolder(run).require().path
