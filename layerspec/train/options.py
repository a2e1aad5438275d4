"""Command-line overrides of the spec's train section, and the settings and loss they give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layerspec.data import data_spec
from layerspec.recipes import LOSSES
from layerspec.rules.runtime import check_overrides
from layerspec.spec import LoadedSpec
from layerspec.spec.train import LOSS_FOR_LABELS, TrainSpec


@dataclass(frozen=True)
class TrainOptions:
    """Command-line overrides of the spec's train section."""

    epochs: int | None = None
    seed: int | None = None
    data_dir: Path | None = None
    resume: bool = False
    command: str = "layerspec train"
    overrides: tuple[str, ...] = ()  # `--set KEY=VALUE`, applied to a spec file before it is validated
    extend: bool = False  # with resume: train on to `epochs`, the schedule planned anew for them
    tensorboard: bool = False  # log to TensorBoard whatever train.tensorboard says


def train_settings(loaded: LoadedSpec, options: TrainOptions | None = None) -> TrainSpec:
    """The spec's train section (defaults when absent) with the command line's overrides applied."""
    settings = loaded.spec.train if loaded.spec.train is not None else TrainSpec()
    updates: dict[str, Any] = {}
    if options is not None:
        check_overrides(options.epochs, options.seed)
    if options is not None and options.epochs is not None:
        updates["epochs"] = options.epochs
    if options is not None and options.seed is not None:
        updates["seed"] = options.seed
    if options is not None and options.tensorboard:
        updates["tensorboard"] = True
    return settings.model_copy(update=updates)


def loss_name(loaded: LoadedSpec, settings: TrainSpec) -> str:
    """The loss: train.loss, else the default of the data section's label encoding (`check` holds them together)."""
    return settings.loss or LOSS_FOR_LABELS[data_spec(loaded).labels]


def metric_names(loaded: LoadedSpec, settings: TrainSpec) -> list[str]:
    """train.metrics as written; by default accuracy for a classification loss and mae for a regression one."""
    if "metrics" in settings.model_fields_set:
        return list(settings.metrics)
    return ["mae"] if LOSSES[loss_name(loaded, settings)].task == "regression" else list(settings.metrics)
