"""Where a new run goes, and how it gets there without losing one that is already there.

A new run is made in a hidden folder beside its target (`.NAME.new-PID-XXXX`, on the same file system) and moved
into place only once it is complete: if the target held a run, that run is renamed aside, the new one renamed
in and the old one removed, all with signals held back. A command that fails or is interrupted before then
removes its hidden folder and leaves the target exactly as it was.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
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
        with interrupts.deferred():
            clean_stale(out)  # a run a killed command set aside is put back before anything is decided
        check_replaceable(out, overwrite=overwrite)
        return Target(out)
    first = RUNS_DIR / name
    for number in range(1, MAX_SUFFIX + 1):
        path = first if number == 1 else RUNS_DIR / f"{name}-{number}"
        with interrupts.deferred():
            clean_stale(path)
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
            clean_stale(target, restore=False)
            staging = Path(tempfile.mkdtemp(prefix=_hidden_prefix(target, "new"), dir=target.parent))
            os.chmod(staging, 0o755)  # mkdtemp makes it private; a run folder is read like any other
        yield RunFolder(staging)
    finally:
        if staging is not None:
            with interrupts.deferred():
                shutil.rmtree(staging, ignore_errors=True)


def _hidden_prefix(target: Path, kind: str) -> str:
    """`.NAME.new-PID-` or `.NAME.old-PID-`: the process that owns the hidden folder is in its name, so a later
    command can tell one left by a killed process from one still in use."""
    return f".{target.name}.{kind}-{os.getpid()}-"


# What follows `.NAME.` in a hidden folder's name: its kind, its owner's process id and mkdtemp's random part.
_HIDDEN = re.compile(r"(new|old)-([0-9]{1,10})-[a-z0-9_]+")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number no process can have: left alone too)
    return True


def clean_stale(target: Path, *, restore: bool = True) -> list[Path]:
    """Remove the hidden folders beside `target` whose process is gone (killed before it could remove them).

    A run set aside (`.old-`) while the target is missing was never replaced: it is put back first (or, without
    `restore`, left for a command that decides where its run goes first). Hidden folders of a live process, or
    without a process id in their name, are left alone. Returns what was removed.
    """
    if not target.parent.is_dir():
        return []
    prefix = f".{target.name}."
    stale: list[tuple[str, Path]] = []
    for entry in sorted(target.parent.glob(f"{glob.escape(prefix)}*")):
        match = _HIDDEN.fullmatch(entry.name[len(prefix) :])
        if match and entry.is_dir() and not entry.is_symlink() and not _alive(int(match[2])):
            stale.append((match[1], entry))
    removed = []
    for kind, entry in sorted(stale, key=lambda item: item[0] != "old"):  # a run to put back first
        if kind == "old" and not os.path.lexists(target):
            if restore:
                os.rename(entry, target)
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def publish(staging: RunFolder, target: Path) -> RunFolder:
    """Put the staged run in `target`'s place in one step: the old run aside, the new one in, the old one gone."""
    with interrupts.deferred(), artifacts.writing(target):
        if not target.exists():
            os.rename(staging.path, target)
            return RunFolder(target)
        # rename(2) replaces an empty folder: the old run moves onto a fresh hidden name, then the new one in.
        aside = Path(tempfile.mkdtemp(prefix=_hidden_prefix(target, "old"), dir=target.parent))
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
