"""The files of a run folder read back: one typed model per file, and the checks every reader shares.

`build`, `train` and `evaluate` write a run folder (README, "Run folders") and `train --resume`, `evaluate`,
`predict` and `report` read it back, all through `RunFolder` (file names, atomic writes, stage) with these
models on both sides. A run folder is a plain folder anyone can edit, so everything read from it
goes through this package: a file that cannot be read, is not JSON, is nested deeper than layerspec writes,
holds a number out of range or does not fit its model is bad data (`DataError`, exit 3) naming the file and the
field. `model.keras` is checked here too before Keras loads it (`archive`).
"""

from __future__ import annotations

from pathlib import Path

from layerspec.run import folder
from layerspec.run.archive import check_model_archive, keras_classes
from layerspec.run.checks import parse_json, read_json, validate
from layerspec.run.folder import (
    RunFolder,
    Stage,
    checkpoint_state,
    current_run,
    read_record,
    resolve_run,
    set_current_run,
)
from layerspec.run.models import (
    FORMAT_VERSION,
    BuildInfo,
    CheckpointState,
    ClassScores,
    CurrentRun,
    Epoch,
    Evaluation,
    History,
    Metrics,
    Misclassified,
    Record,
    RunFile,
    Summary,
    SummaryLayer,
    TrainInfo,
)


def read_build(run_dir: Path) -> BuildInfo | None:
    return RunFolder(run_dir).build()


def read_train(run_dir: Path) -> TrainInfo | None:
    return RunFolder(run_dir).train()


def read_history(run_dir: Path) -> History | None:
    return RunFolder(run_dir).history()


def read_metrics(run_dir: Path) -> Metrics | None:
    return RunFolder(run_dir).metrics()


def read_summary(run_dir: Path) -> Summary | None:
    return RunFolder(run_dir).summary()


__all__ = [
    "FORMAT_VERSION",
    "BuildInfo",
    "CheckpointState",
    "ClassScores",
    "CurrentRun",
    "Epoch",
    "Evaluation",
    "History",
    "Metrics",
    "Misclassified",
    "Record",
    "RunFile",
    "RunFolder",
    "Stage",
    "Summary",
    "SummaryLayer",
    "TrainInfo",
    "check_model_archive",
    "checkpoint_state",
    "current_run",
    "folder",
    "keras_classes",
    "parse_json",
    "read_build",
    "read_history",
    "read_json",
    "read_metrics",
    "read_record",
    "read_summary",
    "read_train",
    "resolve_run",
    "set_current_run",
    "validate",
]
