"""The dataset's containers (splits of float32 images and integer labels) and checks both formats share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerspec.errors import DataError

# A model's inputs: one array, or one per input name for a model with several (arrays format).
Inputs = np.ndarray | dict[str, np.ndarray]


def take(x: Inputs, index: np.ndarray | slice) -> Inputs:
    """The examples `index` of every input."""
    if isinstance(x, dict):
        return {name: values[index] for name, values in x.items()}
    return x[index]


def count(x: Inputs) -> int:
    """The number of examples of the inputs."""
    first = next(iter(x.values())) if isinstance(x, dict) else x
    return int(first.shape[0])


@dataclass(frozen=True)
class Split:
    """One split: images (N, H, W, C) float32 scaled as the spec says (or, for the arrays format, any inputs: one
    array, or a dict of arrays by input name), targets (N,) integer labels or values, source files if any."""

    x: Inputs
    y: np.ndarray
    files: list[str] | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: np.ndarray) -> Split:
        files = [self.files[i] for i in index] if self.files is not None else None
        return Split(take(self.x, index), self.y[index], files)


@dataclass(frozen=True)
class Dataset:
    train: Split
    val: Split | None
    test: Split | None
    class_names: list[str]

    def counts(self) -> dict[str, int]:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {name: len(split) if split is not None else 0 for name, split in splits.items()}


@dataclass(frozen=True)
class Target:
    """What the model expects: one example's shape and the number of classes."""

    input_shape: tuple[int | None, ...]
    num_classes: int | None
    # Every input's name and shape, in the model's order (empty when unknown: the first input's shape only).
    inputs: tuple[tuple[str, tuple[int | None, ...]], ...] = ()


def shape_fits(actual: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    """`actual` has `expected`'s rank and size on every axis whose size is known."""
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected, strict=True))


def check_class_count(names: list[str], target: Target, train: Path) -> None:
    if target.num_classes is not None and len(names) != target.num_classes:
        raise DataError(
            str(train),
            f"the data has {len(names)} classes ({', '.join(names[:10])}) but the model outputs "
            f"{target.num_classes}: make the last layer's units match",
        )
