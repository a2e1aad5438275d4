"""A worker of a multi-worker training other than the chief: it trains in step with the chief, and writes nothing
but a scratch folder that it removes at the end (the chief alone writes the run folder)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from layerspec.errors import UsageError
from layerspec.run.folder import RUNS_DIR
from layerspec.train.checkpoint import CHECKPOINT
from layerspec.train.options import TrainOptions
from layerspec.train.records import TrainResult


def train_worker(spec_or_run: Path | None, options: TrainOptions, display: Any, out: Path | None) -> TrainResult:
    """Train the spec (or the run folder's spec) as one worker; the result names the chief's run folder."""
    from layerspec.data import load_run_spec
    from layerspec.run import current_run, resolve_run
    from layerspec.train.run import train_run

    if spec_or_run is None or spec_or_run.is_dir():
        target = current_run() if spec_or_run is None else resolve_run(spec_or_run)
        loaded = load_run_spec(target)
    else:
        from layerspec.check import load_reporting_all

        loaded = load_reporting_all(spec_or_run, options.overrides)
        target = out if out is not None else RUNS_DIR / loaded.spec.name
    scratch = Path(tempfile.mkdtemp(prefix="layerspec-worker-"))
    try:
        if options.resume:
            _copy_checkpoint(target, scratch)
        result = train_run(scratch, loaded, options, display)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result.moved_to(target)


def _copy_checkpoint(target: Path, scratch: Path) -> None:
    """Every worker resumes from the chief's checkpoint, which it must be able to read (a shared folder)."""
    source = target / CHECKPOINT
    if not source.is_file():
        raise UsageError(
            f"nothing to resume on this worker: {source} does not exist here (every worker reads the chief's "
            "checkpoint on --resume: put the run folder on a folder all of them share)",
            str(target),
        )
    (scratch / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, scratch / CHECKPOINT)
