"""Small array datasets layerspec makes itself (nothing downloaded), in the `arrays` format.

`text`: sequences of integer token ids, each class with a few "keyword" tokens of its own scattered among common
ones, so a model that counts tokens (Embedding + LSTM, or a Dense model on one-hot or averaged tokens) learns it;
id 0 is padding at the end of shorter sequences (Embedding(mask_zero: true) can skip it). `regression`: float
feature vectors and a target that is a fixed linear function of them plus a little noise.

    python -m layerspec.synthetic text DIR      # DIR/text_train.npz, DIR/text_test.npz  (x int32 (N, 40), y (N,))
    python -m layerspec.synthetic regression DIR  # DIR/regression_{train,test}.npz    (x float32 (N, 8), y (N, 1))

Each file is written atomically (a temporary file in the same folder, then os.replace); the same seed gives the
same bytes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class TextSet:
    """Shape of the text set: `classes` classes over a vocabulary of `vocabulary` ids (0 is padding)."""

    count: int = 600
    length: int = 40
    vocabulary: int = 200
    classes: int = 3
    keywords: int = 5  # ids reserved to each class
    seed: int = 0


def text_arrays(setting: TextSet) -> tuple[np.ndarray, np.ndarray]:
    """x: (count, length) int32 ids in [0, vocabulary), y: (count,) int64 class ids, about balanced."""
    rng = np.random.default_rng(setting.seed)
    reserved = 1 + setting.classes * setting.keywords
    if reserved >= setting.vocabulary:
        raise ValueError(f"a vocabulary of {setting.vocabulary} has no room for {reserved} reserved ids")
    y = rng.permutation(np.arange(setting.count) % setting.classes)
    x = rng.integers(reserved, setting.vocabulary, size=(setting.count, setting.length))
    lengths = rng.integers(setting.length // 2, setting.length + 1, size=setting.count)
    for i in range(setting.count):
        own = 1 + y[i] * setting.keywords + rng.integers(0, setting.keywords, size=setting.length)
        marked = rng.random(setting.length) < 0.3
        x[i] = np.where(marked, own, x[i])
        x[i, lengths[i] :] = 0
    return x.astype(np.int32), y.astype(np.int64)


def regression_arrays(count: int = 400, features: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x: (count, features) float32 in [-1, 1], y: (count, 1) float32 = x @ w + 0.5 + noise (w fixed)."""
    rng = np.random.default_rng(seed)
    weights = np.linspace(-1.0, 1.0, features)
    x = rng.uniform(-1.0, 1.0, size=(count, features))
    y = x @ weights + 0.5 + rng.normal(0.0, 0.05, size=count)
    return x.astype(np.float32), y.reshape(-1, 1).astype(np.float32)


def write_npz(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """`x` and `y` as members of an uncompressed .npz, replacing `path` only once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, x=x, y=y)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(folder: Path, setting: TextSet = TextSet()) -> list[Path]:
    """text_train.npz and text_test.npz (a fifth of the examples, drawn from another seed)."""
    test = TextSet(
        setting.count // 5, setting.length, setting.vocabulary, setting.classes, setting.keywords, setting.seed + 1
    )
    paths = [folder / "text_train.npz", folder / "text_test.npz"]
    for path, part in zip(paths, (setting, test), strict=True):
        write_npz(path, *text_arrays(part))
    return paths


def write_regression(folder: Path, count: int = 400, features: int = 8) -> list[Path]:
    paths = [folder / "regression_train.npz", folder / "regression_test.npz"]
    for path, (n, seed) in zip(paths, ((count, 0), (max(1, count // 5), 1)), strict=True):
        write_npz(path, *regression_arrays(n, features, seed))
    return paths


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("text", "regression"):
        print("usage: python -m layerspec.synthetic text|regression DIR", file=sys.stderr)
        return 2
    folder = Path(argv[1])
    paths = write_text(folder) if argv[0] == "text" else write_regression(folder)
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
