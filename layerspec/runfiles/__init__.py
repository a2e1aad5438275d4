"""The files of a run folder read back: one typed model per file, and the checks every reader shares.

`build`, `train` and `evaluate` write a run folder (README, "Run folders"); `train --resume`, `evaluate`,
`predict` and `report` read it back. A run folder is a plain folder anyone can edit, so everything read from it
goes through this package: a file that cannot be read, is not JSON, is nested deeper than layerspec writes,
holds a number out of range or does not fit its model is bad data (`DataError`, exit 3) naming the file and the
field. `model.keras` is checked here too before Keras loads it (`archive`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from layerspec.runfiles.archive import check_model_archive, keras_classes
from layerspec.runfiles.checks import parse_json, read_json, validate
from layerspec.runfiles.models import (
    BuildInfo,
    CheckpointState,
    ClassScores,
    Epoch,
    History,
    Metrics,
    Misclassified,
    RunFile,
    Summary,
    SummaryLayer,
    TrainInfo,
)

RunFileT = TypeVar("RunFileT", bound=RunFile)


def read_model(path: Path, model: type[RunFileT]) -> RunFileT | None:
    """`path` read as `model`, or None when the run has no such file."""
    if not path.is_file():
        return None
    return validate(read_json(path), model, path)


def read_build(run_dir: Path) -> BuildInfo | None:
    return read_model(run_dir / "build.json", BuildInfo)


def read_train(run_dir: Path) -> TrainInfo | None:
    return read_model(run_dir / "train.json", TrainInfo)


def read_history(run_dir: Path) -> History | None:
    return read_model(run_dir / "history.json", History)


def read_metrics(run_dir: Path) -> Metrics | None:
    return read_model(run_dir / "metrics.json", Metrics)


def read_summary(run_dir: Path) -> Summary | None:
    return read_model(run_dir / "summary.json", Summary)


def checkpoint_state(text: str, path: Path) -> CheckpointState:
    """The JSON state stored in a checkpoint (`last.npz`), checked."""
    return validate(parse_json(text, path), CheckpointState, path)


__all__ = [
    "BuildInfo",
    "CheckpointState",
    "ClassScores",
    "Epoch",
    "History",
    "Metrics",
    "Misclassified",
    "RunFile",
    "Summary",
    "SummaryLayer",
    "TrainInfo",
    "check_model_archive",
    "checkpoint_state",
    "keras_classes",
    "parse_json",
    "read_build",
    "read_history",
    "read_json",
    "read_metrics",
    "read_model",
    "read_summary",
    "read_train",
    "validate",
]
