"""Atomic writes of every artefact, and the run folder that `build`, `train` and `report` share.

A run folder holds everything one model's life produces (see README, "Run folders"). Every file is written to a
temporary name in the same folder and moved into place with `os.replace`, so an interrupted command never
leaves a half-written file behind a previous good one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerspec.errors import UsageError
from layerspec.files import read_record

RUNS_DIR = Path("runs")
CURRENT_RUN_FILE = RUNS_DIR / ".current"


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); move it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file private (0600); artefacts are meant to be read like any other file.
    os.chmod(tmp, 0o644)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, default=str) + "\n")


def set_current_run(run_dir: Path) -> None:
    """Remember `run_dir` as the run that `train`, `evaluate` and `report` use when given none."""
    write_text(CURRENT_RUN_FILE, str(run_dir.resolve()) + "\n")


def current_run() -> Path:
    try:
        run_dir = Path(read_record(CURRENT_RUN_FILE, 64 * 1024).strip())
    except (OSError, UnicodeDecodeError):
        raise UsageError("no current run: run `layerspec build SPEC` first, or name a run folder") from None
    if not run_dir.is_dir():
        raise UsageError(f"the current run folder {run_dir} no longer exists: run `layerspec build SPEC` again")
    return run_dir


def resolve_run(run: Path | None) -> Path:
    """The run folder named on the command line, or the current one."""
    if run is None:
        return current_run()
    if not run.is_dir() or not (run / "spec.yaml").is_file():
        raise UsageError(f"{run} is not a run folder (it has no spec.yaml): build one with `layerspec build`")
    return run
