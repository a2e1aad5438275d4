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
