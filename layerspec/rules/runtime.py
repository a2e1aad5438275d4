"""The rules that need more than the spec: the command line's overrides, and the number of examples, which only
reading the data tells (an HDF5 file's or a folder's count is not in the spec). Both are applied before
anything is built or trained."""

from __future__ import annotations

from layerspec.errors import SpecError, UsageError
from layerspec.rules.settings import watched_monitors
from layerspec.spec import LoadedSpec
from layerspec.spec.train import MAX_EPOCHS, MAX_SEED, TrainSpec


def check_overrides(epochs: int | None, seed: int | None) -> None:
    """--epochs and --seed, held to the bounds of train.epochs and train.seed."""
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed} is out of range: a seed is an integer from 0 to {MAX_SEED} (as train.seed)")
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        raise UsageError(f"--epochs {epochs} is out of range: from 1 to {MAX_EPOCHS:,} (as train.epochs)")


def check_training_data(loaded: LoadedSpec, settings: TrainSpec, counts: dict[str, int]) -> None:
    """The training split holds at least one batch, and a validation split the settings watch is not empty."""
    problems = []
    examples = counts.get("train", 0)
    if settings.batch_size > examples:
        problems.append(
            loaded.source.diagnostic(
                ("train", "batch_size"),
                f"batch_size {settings.batch_size} is larger than the training split ({examples} examples, after "
                f"any validation split): not one full batch per epoch; use at most {examples}",
            )
        )
    watching = [m for m in watched_monitors(settings).values() if m.startswith("val_")]
    if watching and counts.get("val", 0) == 0:
        problems.append(
            loaded.source.diagnostic(
                ("data", "validation_split"),
                f"the validation split holds no examples (every class has a single training example), but "
                f"{', '.join(sorted(set(watching)))} is watched: add examples or give data.validation",
            )
        )
    if problems:
        raise SpecError(problems)
