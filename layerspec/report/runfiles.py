"""Read the JSON files of a run folder into typed records (the run-folder contract in the README).

Every file but `spec.yaml` is optional: a run that is only built has no history or metrics. A file that exists
but cannot be read, is not JSON or does not fit the contract is bad data (`DataError`, exit 3) naming the file
and the field, never a traceback. Unknown keys are kept out of the way (`extra="ignore"`) so that a newer
layerspec's run folder still reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from layerspec.errors import DataError
from layerspec.files import read_record


class RunFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class BuildInfo(RunFile):
    """`build.json`: how and from what the model was built."""

    command: str | list[str] | None = None
    created: str | None = None
    spec_sha256: str | None = None
    spec_path: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)


class TrainInfo(RunFile):
    """`train.json`: how the model was trained."""

    command: str | list[str] | None = None
    seed: int | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, Any] = Field(default_factory=dict)
    data_dir: str | None = None
    started: str | None = None
    finished: str | None = None

    def data_location(self) -> str | None:
        """The data folder training used, if it said (top level or among the settings)."""
        for value in (self.data_dir, self.settings.get("data_dir"), self.settings.get("data")):
            if isinstance(value, str) and value:
                return value
        return None


class Epoch(RunFile):
    epoch: int
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    learning_rate: float | None = None
    seconds: float | None = None


class History(RunFile):
    """`history.json`: one entry per epoch and which epoch's weights the model keeps."""

    epochs: list[Epoch]
    kept_epoch: int | None = None
    kept_reason: str | None = None


class ClassScores(RunFile):
    class_: str = Field(alias="class")
    precision: float
    recall: float
    f1: float
    support: int


class Misclassified(RunFile):
    index: int = Field(ge=0)
    file: str | None = None
    true: str | int
    predicted: str | int
    confidence: float


class Metrics(RunFile):
    """`metrics.json`: the evaluation on the test split."""

    test_loss: float | None = None
    test_accuracy: float | None = None
    class_names: list[str] = Field(default_factory=list)
    confusion_matrix: list[list[int]] = Field(default_factory=list)
    per_class: list[ClassScores] = Field(default_factory=list)
    misclassified: list[Misclassified] = Field(default_factory=list)


FileModel = TypeVar("FileModel", bound=RunFile)

# Where the layerspec, TensorFlow and Keras versions may sit in build.json: under "versions" or at the top level.
VERSION_KEYS = ("layerspec", "tensorflow", "keras")


def read_json(path: Path) -> Any:
    """The parsed content of a JSON file, or DataError saying why it cannot be read."""
    try:
        text = read_record(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(str(path), f"cannot read the file: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(str(path), f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None


def read_model(path: Path, model: type[FileModel]) -> FileModel | None:
    """`path` read as `model`, or None when the run has no such file."""
    if not path.is_file():
        return None
    raw = read_json(path)
    if model is BuildInfo and isinstance(raw, dict):
        raw = {**raw, "versions": _versions(raw)}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the top level"
        raise DataError(str(path), f"does not fit the run-folder contract: {where}: {first['msg']}") from None


def _versions(raw: dict[str, Any]) -> dict[str, str]:
    nested = raw.get("versions")
    found = {str(k): str(v) for k, v in nested.items()} if isinstance(nested, dict) else {}
    for key in VERSION_KEYS:
        for candidate in (key, f"{key}_version"):
            if key not in found and isinstance(raw.get(candidate), str | int | float):
                found[key] = str(raw[candidate])
    return found
