"""One strict pydantic model per JSON file of a run folder, holding exactly the keys its writer writes.

`extra="forbid"` and strict types (no coercion): a key written by one side under one name cannot be expected by
another under a different one, and `"3"` is not 3. Bounds keep every figure to what a writer can produce
(shares in [0, 1], counts >= 0, a square confusion matrix with one row per class).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from layerspec.hardware import CpuInfo, PrecisionChoice

MAX_CLASSES = 10_000
MAX_EPOCHS = 1_000_000

Text = Annotated[str, Field(max_length=4096)]


# A path as a writer records it: no NUL, no part longer than a Linux file name (NAME_MAX, 255 bytes), so that
# looking it up can only find it or not, never fail.
def _file_name_parts(value: str) -> str:
    if "\x00" in value or any(len(part.encode("utf-8")) > 255 for part in value.split("/")):
        raise ValueError("not a path: a path has no NUL character and no part longer than 255 bytes")
    return value


PathText = Annotated[str, Field(max_length=4096), AfterValidator(_file_name_parts)]
Name = Annotated[str, Field(max_length=1000)]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


# The run-folder format this layerspec writes. A reader reads every version up to this one (fields added since
# a file was written take their defaults; a file without the key predates versioning and counts as 0) and
# refuses a newer one as bad data (exit 3), since it may hold what this version cannot know the meaning of.
FORMAT_VERSION = 1
Sha256 = Annotated[str, Field(max_length=64)]


class RunFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False, populate_by_name=True)


class Record(RunFile):
    """A whole file of a run folder: it says which version of the format it was written in."""

    format_version: Annotated[int, Field(ge=0)] = FORMAT_VERSION


# ------------------------------------------------------------------------------------------------ build.json


class BuildInfo(Record):
    """`build.json`: how and from what the model was built."""

    command: str | list[str] | None = None
    created: Text | None = None
    spec_path: PathText | None = None
    spec_sha256: Sha256 | None = None
    model_name: Name | None = None
    params: Count | None = None
    rankdir: Annotated[str, Field(max_length=2)] | None = None
    versions: dict[Name, Name] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _nested_versions(cls, raw: Any) -> Any:
        """Older build.json files put the versions at the top level (`tensorflow` or `tensorflow_version`)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("versions", {}), dict):
            return raw
        raw, versions = dict(raw), dict(raw.get("versions", {}))
        for key in ("layerspec", "tensorflow", "keras"):
            for candidate in (key, f"{key}_version"):
                value = raw.pop(candidate, None)
                if key not in versions and isinstance(value, str | int | float) and not isinstance(value, bool):
                    versions[key] = str(value)
        return {**raw, "versions": versions}


# ------------------------------------------------------------------------------------------------ train.json


class TrainInfo(Record):
    """`train.json`: how the model was trained (its presence marks a finished training)."""

    spec_sha256: Sha256 | None = None  # the spec trained: the one build.json names, or the results are not its
    command: str | list[str] | None = None
    seed: Count | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    data_dir: PathText | None = None
    counts: dict[str, Any] = Field(default_factory=dict)
    class_names: list[Name] = Field(default_factory=list, max_length=MAX_CLASSES)
    epochs_completed: Count | None = None
    stopped_early: bool | None = None
    resumed: bool | None = None
    devices: list[Name] = Field(default_factory=list)
    replicas: Count | None = None
    jit_compiled: bool | None = None
    precision: PrecisionChoice | None = None
    cpu: CpuInfo | None = None
    started: Text | None = None
    finished: Text | None = None
    python: Name | None = None
    tensorflow: Name | None = None

    def data_location(self) -> str | None:
        """The data folder training used, if it said (top level or among the settings)."""
        for value in (self.data_dir, self.settings.get("data_dir"), self.settings.get("data")):
            if isinstance(value, str) and value:
                return value
        return None


# ------------------------------------------------------------------------------------------------ history.json

# Figures Keras logs besides the fixed ones: any metric a spec names (`top_5_accuracy`, ...), with and without
# `val_`. The set is open, so that a metric added later is kept, not refused; a name is still a metric's name.
EXTRA_FIGURE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Epoch(RunFile):
    """One epoch's figures (history.json, and the history inside a checkpoint)."""

    model_config = ConfigDict(extra="allow")

    epoch: Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    learning_rate: float | None = None
    seconds: float | None = None

    @model_validator(mode="after")
    def _known_extras(self) -> Epoch:
        for key, value in (self.model_extra or {}).items():
            if not EXTRA_FIGURE.match(key):
                raise ValueError(f"unknown figure '{key}' (a metric's name: lower-case letters, digits and _)")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"'{key}' should be a number, not {type(value).__name__}")
        return self

    def extra_figures(self) -> dict[str, float]:
        """The figures besides the fixed ones (top-k accuracies, ...), by name."""
        return {key: float(value) for key, value in (self.model_extra or {}).items()}

    def record(self) -> dict[str, Any]:
        """The epoch as the training loop keeps it: only the figures that were written."""
        return self.model_dump(exclude_unset=True)


class History(Record):
    """`history.json`: one entry per epoch and which epoch's weights the model keeps."""

    spec_sha256: Sha256 | None = None
    epochs: list[Epoch] = Field(max_length=MAX_EPOCHS)
    kept_epoch: Count | None = None
    kept_reason: Text | None = None


class CheckpointState(Record):
    """The JSON state inside `checkpoints/last.npz` (and `checkpoints/state.json`, which adds `interrupted`)."""

    epoch: Annotated[int, Field(ge=0, le=MAX_EPOCHS)]
    history: list[Epoch] = Field(max_length=MAX_EPOCHS)
    seed: Count
    spec_sha256: Sha256
    stopped_early: bool = False
    interrupted: dict[str, int | None] | None = None

    @model_validator(mode="after")
    def _epochs_in_order(self) -> CheckpointState:
        if self.epoch != len(self.history):
            raise ValueError(f"says epoch {self.epoch} but holds the history of {len(self.history)} epochs")
        numbers = [e.epoch for e in self.history]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"the history's epochs are numbered {numbers[:5]}..., not 1, 2, 3, ...")
        return self


# ------------------------------------------------------------------------------------------------ metrics.json


class ClassScores(RunFile):
    class_: Name = Field(alias="class")
    precision: Share
    recall: Share
    f1: Share
    support: Count


class Misclassified(RunFile):
    index: Count
    file: Text | None = None
    true: Name | Count
    predicted: Name | Count
    confidence: Share


class Metrics(Record):
    """`metrics.json`: the evaluation on the test split."""

    spec_sha256: Sha256 | None = None
    test_loss: Annotated[float, Field(ge=0.0)] | None = None
    test_accuracy: Share | None = None
    test_count: Count | None = None
    class_names: list[Name] = Field(default_factory=list, max_length=MAX_CLASSES)
    confusion_matrix: list[list[Count]] = Field(default_factory=list, max_length=MAX_CLASSES)
    per_class: list[ClassScores] = Field(default_factory=list, max_length=MAX_CLASSES)
    misclassified: list[Misclassified] = Field(default_factory=list)

    @model_validator(mode="after")
    def _square_matrix(self) -> Metrics:
        size = len(self.confusion_matrix)
        for index, row in enumerate(self.confusion_matrix):
            if len(row) != size:
                raise ValueError(f"row {index} of confusion_matrix has {len(row)} counts, not {size} (one per class)")
        if self.class_names and size and size != len(self.class_names):
            raise ValueError(f"confusion_matrix is {size}x{size} but class_names names {len(self.class_names)}")
        return self


# ------------------------------------------------------------------------------------------------ summary.json


class SummaryPort(RunFile):
    name: Name
    shape: list[Count | None] = Field(max_length=16)


class SummaryLayer(RunFile):
    name: Name
    type: Name
    inputs: list[Name] = Field(default_factory=list)
    output_shape: list[Count | None] = Field(max_length=16)
    # Every output's shape (the first is `output_shape`); absent in run folders written before it existed.
    output_shapes: list[Annotated[list[Count | None], Field(max_length=16)]] = Field(
        default_factory=list, max_length=1024
    )
    params: Count
    trainable_params: Count
    macs: Count
    block: Name | None = None


class Summary(Record):
    """`summary.json`: the object `layerspec check --json` prints, each layer with the block it came from."""

    name: Name
    params: Count
    trainable_params: Count
    non_trainable_params: Count
    macs: Count
    inputs: list[SummaryPort] = Field(default_factory=list)
    outputs: list[SummaryPort] = Field(default_factory=list)
    layers: list[SummaryLayer]


# ------------------------------------------------------------------------------------------------ runs/.current


class CurrentRun(Record):
    """`runs/.current`: the run that `train`, `evaluate` and `report` use when given none."""

    run: PathText
