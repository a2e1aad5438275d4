"""`history.json` and a checkpoint's state: the figures of each epoch trained."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from layerspec.run.record import MAX_EPOCHS, Count, Record, RunFile, Sha256, Text

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
        """The epoch as a mapping of only the figures that were written (history.csv's row, a sweep's report)."""
        return self.model_dump(exclude_unset=True)

    def __getitem__(self, name: str) -> Any:
        """A written figure by name (`loss`, a monitor such as `val_top_5_accuracy`), as the training loop and the
        schedules look them up: KeyError for one the epoch does not hold, as a plain mapping of its figures gives."""
        if name not in self.model_fields_set:
            raise KeyError(name)
        return getattr(self, name)


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
