"""Where a new run goes, and how it gets there without losing one that is already there.

A new run is made in a hidden folder beside its target (`.NAME.new-XXXX`, on the same file system) and moved
into place only once it is complete: if the target held a run, that run is renamed aside, the new one renamed
in and the old one removed, all with signals held back. A command that fails or is interrupted before then
removes its hidden folder and leaves the target exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from layerspec import artifacts, interrupts
from layerspec.errors import UsageError
from layerspec.run import folder
from layerspec.run.folder import RUNS_DIR, RunFolder

MAX_SUFFIX = 1000


@dataclass(frozen=True)
class Target:
    """The run folder a command will write, and a note for the user when it is not the one they expected."""

    path: Path
    note: str | None = None


def choose_target(
    out: Path | None, name: str, spec_sha256: str, *, overwrite: bool, spec_path: Path | None = None
) -> Target:
    """`--out` when it may be written (else UsageError, exit 2); without it, runs/NAME or the first free NAME-N.

    runs/NAME is free when it holds a build-only run of this spec: its text (`spec_sha256`) or its file
    (`spec_path`, so that editing a spec and building it again reuses its folder while nothing is trained).
    """
    same = _SameSpec(spec_sha256, str(spec_path.resolve()) if spec_path is not None else None)
    if out is not None:
        check_replaceable(out, overwrite=overwrite)
        return Target(out)
    first = RUNS_DIR / name
    for number in range(1, MAX_SUFFIX + 1):
        path = first if number == 1 else RUNS_DIR / f"{name}-{number}"
        taken = _taken(path, same)
        if taken is None or (overwrite and path == first and RunFolder(path).is_run()):
            note = None if path == first else f"{first} is taken ({_taken(first, same)}): writing {path}"
            return Target(path, note)
    raise UsageError(f"{first} and {first}-2 ... -{MAX_SUFFIX} are all taken: choose a folder with --out")


@dataclass(frozen=True)
class _SameSpec:
    sha256: str
    path: str | None


def _taken(path: Path, spec: _SameSpec) -> str | None:
    """Why a new run of `spec` may not go to `path`; None when it may."""
    if not path.exists():
        return None
    run = RunFolder(path)
    if not run.is_run():
        return "it is not a run folder"
    if results := run.training_results():
        return f"it holds training results: {', '.join(results)}"
    build = run.build()
    if build is None or (build.spec_sha256 != spec.sha256 and (spec.path is None or build.spec_path != spec.path)):
        return "it holds the run of another spec"
    return None  # a build of this very spec, not trained: building it again loses nothing


def check_replaceable(path: Path, *, overwrite: bool) -> None:
    """Refuse (UsageError, exit 2) to replace what holds something that would be lost."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a folder: choose another --out", str(path))
    if not path.is_dir() or not any(path.iterdir()):
        return
    run = RunFolder(path)
    if not run.is_run():
        raise UsageError(
            "the folder has files in it but is not a run folder (no spec.yaml): a run replaces its whole folder, "
            "so choose a new or empty folder for --out",
            str(path),
        )
    results = run.training_results()
    if results and not overwrite:
        raise UsageError(
            f"the folder holds a trained run ({', '.join(results)}), which a new run written there would replace: "
            "add --overwrite to replace it, or choose another --out",
            str(path),
        )


@contextlib.contextmanager
def staged(target: Path) -> Iterator[RunFolder]:
    """A hidden sibling folder to make the new run in; removed whatever happens unless it was published."""
    staging: Path | None = None
    try:
        with interrupts.deferred(), artifacts.writing(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
            os.chmod(staging, 0o755)  # mkdtemp makes it private; a run folder is read like any other
        yield RunFolder(staging)
    finally:
        if staging is not None:
            with interrupts.deferred():
                shutil.rmtree(staging, ignore_errors=True)


def publish(staging: RunFolder, target: Path) -> RunFolder:
    """Put the staged run in `target`'s place in one step: the old run aside, the new one in, the old one gone."""
    with interrupts.deferred(), artifacts.writing(target):
        if not target.exists():
            os.rename(staging.path, target)
            return RunFolder(target)
        # rename(2) replaces an empty folder: the old run moves onto a fresh hidden name, then the new one in.
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        try:
            os.rename(target, aside)
        except OSError:
            aside.rmdir()
            raise
        try:
            os.rename(staging.path, target)
        except OSError:
            os.rename(aside, target)  # put the old run back: nothing is lost
            raise
        if aside.is_symlink():  # --out was a link: the folder it points to is left as it was
            aside.unlink()
        else:
            shutil.rmtree(aside, ignore_errors=True)
    return RunFolder(target)


def back_to_built(run: RunFolder) -> None:
    """Remove what an unfinished training left in a run (its checkpoint): the run is as `build` made it again.
    A run whose training finished (train.json, written last) is left alone."""
    if run.file(folder.TRAIN).exists():
        return
    with interrupts.deferred():
        for name in folder.TRAINING_FILES:
            path = run.file(name)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
