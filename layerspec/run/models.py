"""One strict pydantic model per JSON file of a run folder, holding exactly the keys its writer writes.

`extra="forbid"` and strict types (no coercion): a key written by one side under one name cannot be expected by
another under a different one, and `"3"` is not 3. Bounds keep every figure to what a writer can produce
(shares in [0, 1], counts >= 0, a square confusion matrix with one row per class).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from layerspec.hardware import CpuInfo, PrecisionChoice

# Re-exported: the models of each file, and the types they share, live in modules of their own; this module
# names them all.
from layerspec.run.history import EXTRA_FIGURE as EXTRA_FIGURE
from layerspec.run.history import CheckpointState as CheckpointState
from layerspec.run.history import Epoch as Epoch
from layerspec.run.history import History as History
from layerspec.run.metrics import MAX_PLOTTED as MAX_PLOTTED
from layerspec.run.metrics import ClassScores as ClassScores
from layerspec.run.metrics import Evaluation as Evaluation
from layerspec.run.metrics import Metrics as Metrics
from layerspec.run.metrics import Misclassified as Misclassified
from layerspec.run.metrics import PredictedValue as PredictedValue
from layerspec.run.metrics import RegressionScores as RegressionScores
from layerspec.run.record import FORMAT_VERSION as FORMAT_VERSION
from layerspec.run.record import MAX_CLASSES as MAX_CLASSES
from layerspec.run.record import MAX_EPOCHS as MAX_EPOCHS
from layerspec.run.record import Count as Count
from layerspec.run.record import Name as Name
from layerspec.run.record import PathText as PathText
from layerspec.run.record import Record as Record
from layerspec.run.record import RunFile as RunFile
from layerspec.run.record import Sha256 as Sha256
from layerspec.run.record import Share as Share
from layerspec.run.record import Text as Text
from layerspec.run.summary import Summary as Summary
from layerspec.run.summary import SummaryLayer as SummaryLayer
from layerspec.run.summary import SummaryPort as SummaryPort

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


# ------------------------------------------------------------------------------------------------ runs/.current


class CurrentRun(Record):
    """`runs/.current`: the run that `train`, `evaluate` and `report` use when given none."""

    run: PathText = Field(description="Absolute path of the current run folder.")
