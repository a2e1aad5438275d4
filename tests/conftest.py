"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import layerspec  # noqa: F401  (first, so the tests run with the oneDNN setting the command line gets)

REPO = Path(__file__).resolve().parent.parent
SPECS = REPO / "specs"
SIGNS = REPO / "data" / "signs"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def user_current_run_kept() -> Iterator[None]:
    """Put the checkout's runs/.current back as it was before the session.

    Tests that build or train from the checkout as working directory make their temporary run the current one;
    after `make test` a bare `layerspec evaluate` must still mean the user's own run.
    """
    path = REPO / "runs" / ".current"
    saved = path.read_bytes() if path.is_file() else None
    yield
    if saved is not None:
        path.write_bytes(saved)
    else:
        path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def keras() -> Any:
    """Keras, imported once per session (TensorFlow's import is the slow part of any test that needs it)."""
    import keras as keras_module

    return keras_module


@pytest.fixture
def cli() -> Callable[..., Any]:
    """Run `layerspec ARGS...` in-process; returns typer's Result (exit_code, stdout, stderr)."""
    from layerspec.cli import app

    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args))

    return invoke


def write_signs_subset(folder: Path, train: int = 12, test: int = 4) -> None:
    """`train` training and `test` test images of each of SIGNS's 6 classes (72 and 24 by default) as train.h5 and
    test.h5 in `folder`, under SIGNS's own keys, so that a spec's default data section reads them."""
    import h5py
    import numpy as np

    with h5py.File(SIGNS / "train_signs.h5", "r") as source:
        x, y = source["train_set_x"][()], source["train_set_y"][()]
    train_index = np.concatenate([np.flatnonzero(y == c)[:train] for c in range(6)])
    test_index = np.concatenate([np.flatnonzero(y == c)[train : train + test] for c in range(6)])
    for name, prefix, index in (("train.h5", "train", train_index), ("test.h5", "test", test_index)):
        with h5py.File(folder / name, "w") as handle:
            handle[f"{prefix}_set_x"] = x[index]
            handle[f"{prefix}_set_y"] = y[index]
            handle["list_classes"] = np.arange(6)


@pytest.fixture(scope="session")
def signs_subset() -> Callable[..., Path]:
    """`signs_subset(folder, train=12, test=4)` writes a small subset of SIGNS into `folder` (write_signs_subset)
    and returns it; a test that asks for it is skipped when the dataset is not linked into data/signs."""
    if not (SIGNS / "train_signs.h5").is_file():
        pytest.skip("SIGNS dataset not linked into data/signs (run `make data`)")

    def write(folder: Path, train: int = 12, test: int = 4) -> Path:
        write_signs_subset(folder, train, test)
        return folder

    return write
