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

    format_version: Annotated[int, Field(ge=0)] = Field(
        default=FORMAT_VERSION,
        description="Version of the run-folder format the file was written in; missing means 0 (written before "
        "versioning). A newer version than the reader's is refused.",
    )


# ------------------------------------------------------------------------------------------------ build.json


class BuildInfo(Record):
    """`build.json`: how and from what the model was built."""

    command: str | list[str] | None = Field(default=None, description="The command line that built the run.")
    created: Text | None = Field(default=None, description="When the build finished: ISO 8601, UTC.")
    spec_path: PathText | None = Field(
        default=None,
        description="Absolute path of the spec file built (the data section's paths are relative to its folder).",
    )
    spec_sha256: Sha256 | None = Field(
        default=None, description="SHA-256 of the spec's text (spec.yaml holds the same text)."
    )
    model_name: Name | None = Field(default=None, description="The spec's `name`.")
    params: Count | None = Field(default=None, description="Parameters of the built model.")
    rankdir: Annotated[str, Field(max_length=2)] | None = Field(
        default=None, description="Direction of the diagram: `TB` (top to bottom) or `LR` (left to right)."
    )
    versions: dict[Name, Name] = Field(
        default_factory=dict, description="Versions of layerspec, TensorFlow, Keras and Python that built it."
    )
    overrides: list[Text] = Field(
        default_factory=list,
        max_length=256,
        description="The `--set KEY=VALUE` overrides applied on top of spec.yaml, in order (spec.yaml holds the file "
        "as written; the run's spec is that file with these applied).",
    )

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

    spec_sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the spec's text these results come from: the one build.json names, or they are not "
        "its.",
    )
    command: str | list[str] | None = Field(default=None, description="The command line that trained the run.")
    seed: Count | None = Field(default=None, description="The seed training used (train.seed, or --seed).")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="The spec's train section as training applied it: defaults filled in, command-line overrides and "
        "the precision chosen.",
    )
    data: dict[str, Any] = Field(default_factory=dict, description="The spec's data section, defaults filled in.")
    data_dir: PathText | None = Field(default=None, description="Absolute path of the dataset folder read.")
    counts: dict[str, Any] = Field(
        default_factory=dict, description="Examples in each split: `train`, `val` and `test`."
    )
    class_names: list[Name] = Field(
        default_factory=list,
        max_length=MAX_CLASSES,
        description="The class names, in label order (label i is class_names[i]).",
    )
    epochs_completed: Count | None = Field(
        default=None,
        description="Epochs trained, in all runs of `train` (a resumed training counts the ones before too).",
    )
    stopped_early: bool | None = Field(
        default=None, description="Whether early stopping ended training before train.epochs."
    )
    resumed: bool | None = Field(
        default=None, description="Whether this training continued from a checkpoint (--resume)."
    )
    devices: list[Name] = Field(
        default_factory=list, description="TensorFlow's logical devices in the process that trained."
    )
    replicas: Count | None = Field(
        default=None, description="Copies of the model trained in step by the distribution strategy (1 without one)."
    )
    workers: Count | None = Field(
        default=None,
        description="How many worker processes trained together (1 without a multi-worker strategy); `replicas` "
        "counts the replicas of all of them.",
    )
    jit_compiled: bool | None = Field(
        default=None,
        description="Whether Keras compiled the training step with XLA (it falls back when a layer cannot).",
    )
    precision: PrecisionChoice | None = Field(default=None, description="The compute dtype training used and why.")
    cpu: CpuInfo | None = Field(default=None, description="The CPU that trained.")
    started: Text | None = Field(default=None, description="When training started: ISO 8601, UTC.")
    finished: Text | None = Field(default=None, description="When training finished: ISO 8601, UTC.")
    python: Name | None = Field(default=None, description="Python's version.")
    tensorflow: Name | None = Field(default=None, description="TensorFlow's version.")
    overrides: list[Text] = Field(
        default_factory=list,
        max_length=256,
        description="The `--set KEY=VALUE` overrides the trained spec had (the same as build.json's).",
    )

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

    epoch: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] = Field(description="The epoch's number, from 1.")
    loss: float | None = Field(default=None, description="Mean training loss over the epoch.")
    accuracy: float | None = Field(default=None, description="Training accuracy over the epoch.")
    val_loss: float | None = Field(
        default=None, description="Loss on the validation split after the epoch (absent without one)."
    )
    val_accuracy: float | None = Field(
        default=None, description="Accuracy on the validation split after the epoch (absent without one)."
    )
    learning_rate: float | None = Field(
        default=None, description="The learning rate the epoch trained with (the schedule's value)."
    )
    seconds: float | None = Field(default=None, description="Wall-clock seconds the epoch took, validation included.")

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

    spec_sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the spec's text these results come from: the one build.json names, or they are not "
        "its.",
    )
    epochs: list[Epoch] = Field(
        max_length=MAX_EPOCHS,
        description="One entry per epoch trained, in order; besides the keys below, one per further metric the spec "
        "names (`top_5_accuracy`, `val_top_5_accuracy`, ...).",
    )
    kept_epoch: Count | None = Field(default=None, description="The epoch whose weights model.keras holds.")
    kept_reason: Text | None = Field(
        default=None,
        description="Why those weights were kept (best monitored value, last epoch, weight average), in words.",
    )


class CheckpointState(Record):
    """The JSON state inside `checkpoints/last.npz` (and `checkpoints/state.json`, which adds `interrupted`)."""

    epoch: Annotated[int, Field(ge=0, le=MAX_EPOCHS)] = Field(
        description="Epochs complete when the checkpoint was saved (0: before the first)."
    )
    history: list[Epoch] = Field(
        max_length=MAX_EPOCHS, description="Each complete epoch's figures, as history.json will hold them."
    )
    seed: Count = Field(description="The seed training used; --resume continues with it.")
    spec_sha256: Sha256 = Field(
        description="SHA-256 of the spec trained; --resume refuses a checkpoint of another spec."
    )
    stopped_early: bool = Field(default=False, description="Whether early stopping had ended training.")
    interrupted: dict[str, int | None] | None = Field(
        default=None,
        description="Only in state.json: the signal that stopped training (its number), and the epoch and batch it "
        "came in (null between epochs).",
    )
    planned_epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)] | None = Field(
        default=None,
        description="The epochs the schedule was planned for (train.epochs or --epochs); absent in older checkpoints.",
    )

    @model_validator(mode="after")
    def _epochs_in_order(self) -> CheckpointState:
        if self.epoch != len(self.history):
            raise ValueError(f"says epoch {self.epoch} but holds the history of {len(self.history)} epochs")
        numbers = [e.epoch for e in self.history]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"the history's epochs are numbered {numbers[:5]}..., not 1, 2, 3, ...")
        return self


# ------------------------------------------------------------------------------------------------ metrics.json


MAX_PLOTTED = 500  # points in the report's predicted-vs-true plot


class ClassScores(RunFile):
    class_: Name = Field(alias="class", description="The class's name.")
    precision: Share = Field(
        description="Share of the test images predicted as this class that are of it (0 when none was)."
    )
    recall: Share = Field(description="Share of the test images of this class predicted as it (0 when it has none).")
    f1: Share = Field(description="Harmonic mean of precision and recall (0 when both are 0).")
    support: Count = Field(description="Test images of this class.")


class Misclassified(RunFile):
    index: Count = Field(description="Position of the image in the test split.")
    file: Text | None = Field(default=None, description="The image's file for a folder dataset; null for HDF5.")
    true: Name | Count = Field(description="The image's class.")
    predicted: Name | Count = Field(description="The class the model predicted.")
    confidence: Share = Field(description="The probability the model gave the predicted class.")


class PredictedValue(RunFile):
    true: float = Field(description="The example's target (its first value when the targets are vectors).")
    predicted: float = Field(description="The model's output for it (the same value of the output).")


class RegressionScores(RunFile):
    """Error figures of a model whose loss is a regression loss (mean_squared_error, mean_absolute_error, huber),
    over every value of every test target."""

    mae: Annotated[float, Field(ge=0.0)] = Field(description="Mean absolute error.")
    mse: Annotated[float, Field(ge=0.0)] = Field(description="Mean squared error.")
    rmse: Annotated[float, Field(ge=0.0)] = Field(description="Root of the mean squared error, in the targets' unit.")
    r2: float | None = Field(
        default=None,
        description="Coefficient of determination: 1 - squared error / variance of the targets (1 is perfect, 0 "
        "no better than the mean); null when the targets do not vary.",
    )
    values: Count = Field(description="Target values compared (examples times values per example).")
    sample: list[PredictedValue] = Field(
        default_factory=list,
        max_length=MAX_PLOTTED,
        description=f"Up to {MAX_PLOTTED} (true, predicted) pairs, evenly spread over the test split, for the "
        "report's predicted-vs-true plot.",
    )


class Evaluation(RunFile):
    """The figures of a model on the test split: what `evaluate --json` prints and `train --json` holds as
    `metrics`."""

    test_loss: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None, description="Mean cross-entropy on the test split (probabilities clipped as Keras clips them)."
    )
    test_accuracy: Share | None = Field(default=None, description="Share of the test images classified correctly.")
    test_count: Count | None = Field(default=None, description="Images in the test split.")
    class_names: list[Name] = Field(
        default_factory=list, max_length=MAX_CLASSES, description="The class names, in label order."
    )
    confusion_matrix: list[list[Count]] = Field(
        default_factory=list,
        max_length=MAX_CLASSES,
        description="Counts of test images: row i holds the images of class i, column j those predicted as class j.",
    )
    per_class: list[ClassScores] = Field(
        default_factory=list,
        max_length=MAX_CLASSES,
        description="Precision, recall, F1 and support of each class, in label order.",
    )
    misclassified: list[Misclassified] = Field(
        default_factory=list, description="Every test image predicted wrongly, in test-split order."
    )
    regression: RegressionScores | None = Field(
        default=None,
        description="Error figures, for a regression loss (then test_loss is that loss and the class figures are "
        "empty); absent for a classifier.",
    )

    @model_validator(mode="after")
    def _square_matrix(self) -> Evaluation:
        size = len(self.confusion_matrix)
        for index, row in enumerate(self.confusion_matrix):
            if len(row) != size:
                raise ValueError(f"row {index} of confusion_matrix has {len(row)} counts, not {size} (one per class)")
        if self.class_names and size and size != len(self.class_names):
            raise ValueError(f"confusion_matrix is {size}x{size} but class_names names {len(self.class_names)}")
        return self

    def to_json(self) -> dict[str, Any]:
        # A classifier's JSON keeps exactly its keys of before (no `regression: null`).
        return self.model_dump(mode="json", by_alias=True, exclude={"regression"} if self.regression is None else None)


class Metrics(Evaluation, Record):
    """`metrics.json`: the evaluation on the test split."""

    spec_sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the spec's text these results come from: the one build.json names, or they are not "
        "its.",
    )

    @classmethod
    def of(cls, figures: Evaluation, spec_sha256: str) -> Metrics:
        """The record of `figures`, naming the spec they came from."""
        return cls.model_validate({**dict(figures), "spec_sha256": spec_sha256})


# ------------------------------------------------------------------------------------------------ summary.json


class SummaryPort(RunFile):
    name: Name = Field(description="The input or output layer's name.")
    shape: list[Count | None] = Field(max_length=16, description="Its shape, the batch axis (null) first.")


class SummaryLayer(RunFile):
    name: Name = Field(description="The layer's name (the spec's, or the one layerspec gave it).")
    type: Name = Field(description="The layer's type (Keras's class name).")
    inputs: list[Name] = Field(default_factory=list, description="Names of the layers it reads.")
    output_shape: list[Count | None] = Field(
        max_length=16, description="Its output shape, the batch axis (null) first."
    )
    output_shapes: list[Annotated[list[Count | None], Field(max_length=16)]] = Field(
        default_factory=list,
        max_length=1024,
        description="Every output's shape (the first is `output_shape`); absent in run folders written before it.",
    )
    params: Count = Field(description="Its parameters, trainable or not.")
    trainable_params: Count = Field(description="Its trainable parameters.")
    macs: Count = Field(description="Multiply-accumulate operations for one example.")
    block: Name | None = Field(
        default=None, description="The block instance it came from (absent for a layer written in `layers:` itself)."
    )
    # Per spatial axis; null where the question has no meaning or the rule is unknown (and in older run folders).
    receptive_field: list[Count] | None = Field(
        default=None,
        max_length=3,
        description="Receptive field per spatial axis, in input positions (null: none or unknown).",
    )
    effective_stride: list[Annotated[float, Field(ge=0)] | Count] | None = Field(
        default=None, max_length=3, description="How far the field moves per output step, per spatial axis."
    )


class Summary(Record):
    """`summary.json`: the object `layerspec check --json` prints, each layer with the block it came from."""

    name: Name = Field(description="The spec's `name`.")
    params: Count = Field(description="Parameters of the model.")
    trainable_params: Count = Field(description="Trainable parameters.")
    non_trainable_params: Count = Field(
        description="Parameters training does not change (batch-normalization statistics, frozen layers)."
    )
    macs: Count = Field(description="Multiply-accumulate operations for one example.")
    inputs: list[SummaryPort] = Field(default_factory=list, description="The model's inputs.")
    outputs: list[SummaryPort] = Field(default_factory=list, description="The model's outputs.")
    layers: list[SummaryLayer] = Field(description="Every layer in order, inputs included.")


# ------------------------------------------------------------------------------------------------ runs/.current


class CurrentRun(Record):
    """`runs/.current`: the run that `train`, `evaluate` and `report` use when given none."""

    run: PathText = Field(description="Absolute path of the current run folder.")
