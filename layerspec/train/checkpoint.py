"""Checkpoints: the model's and optimizer's variables plus the JSON state, in one .npz file; best weights."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from layerspec.artifacts import atomic_path
from layerspec.errors import DataError, UsageError
from layerspec.run import CheckpointState, checkpoint_state, folder

CHECKPOINT = Path(folder.CHECKPOINT)
BEST_WEIGHTS = Path(folder.BEST_WEIGHTS)


def require_checkpoint(run_dir: Path) -> Path:
    """The run's checkpoint, or UsageError (exit 2) when there is none to resume from."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist (train without --resume first)", str(run_dir))
    return path


def save_checkpoint(path: Path, model: Any, state: CheckpointState) -> None:
    """Model and optimizer variables (seed states included) plus the JSON state, in one atomically written file.

    The state holds the keys that were set (each epoch's written figures; no `interrupted`, which is state.json's)."""
    arrays = {f"model_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays |= {f"optimizer_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    text = json.dumps(state.model_dump(exclude_unset=True))
    arrays["state"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]


def load_checkpoint(path: Path, model: Any) -> CheckpointState:
    """Restore the variables saved by `save_checkpoint` into `model`; returns the saved state."""
    state = read_checkpoint_state(path)
    with _archive(path) as archive:
        _assign(model.variables, archive, "model", path)
        _assign(model.optimizer.variables, archive, "optimizer", path)
    return state


def read_checkpoint_state(path: Path) -> CheckpointState:
    """The JSON state of a checkpoint, checked (DataError if the file is not one layerspec saved)."""
    with _archive(path) as archive:
        raw = archive["state"]
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise DataError(str(path), f"its state is a {raw.dtype} array of shape {raw.shape}, not JSON bytes")
        text = raw.tobytes().decode("utf-8")
    return checkpoint_state(text, path)


@contextmanager
def _archive(path: Path) -> Iterator[Any]:
    """An .npz file opened without pickles; any way it cannot be read is bad data naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            yield archive
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(str(path), f"cannot read the checkpoint: {type(exc).__name__}: {exc}") from None


def _assign(variables: list[Any], archive: Any, prefix: str, path: Path) -> None:
    """Put the arrays `<prefix>_0`, `<prefix>_1`, ... into `variables`, after checking count, shape and type."""
    count = sum(1 for name in archive.files if name.startswith(prefix + "_"))
    if count != len(variables):
        message = f"the checkpoint holds {count} {prefix} arrays, the model has {len(variables)} such variables"
        raise DataError(str(path), message + ": train afresh without --resume")
    values = [archive[f"{prefix}_{i}"] for i in range(len(variables))]
    for variable, value in zip(variables, values, strict=True):
        if tuple(value.shape) != tuple(variable.shape) or value.dtype.kind not in "biuf":
            raise DataError(
                str(path),
                f"{variable.path}: the checkpoint holds a {value.dtype} array of shape {tuple(value.shape)}, the "
                f"model a variable of shape {tuple(variable.shape)}: train afresh without --resume",
            )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _save_weights(path: Path, model: Any) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, *[np.asarray(v.numpy()) for v in model.weights])


def _load_weights(path: Path, model: Any) -> None:
    with _archive(path) as archive:
        _assign(model.weights, archive, "arr", path)
