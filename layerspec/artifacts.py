"""Atomic writes of every artefact (run files through `layerspec.run.RunFolder`, reports).

Every file is written to a temporary name in the same folder and moved into place with `os.replace`, so an
interrupted command never leaves a half-written file behind a previous good one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerspec import interrupts
from layerspec.errors import UsageError

# What the file system said, as advice: errno -> (what happened, what to do).
WRITE_ADVICE = {
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere (--out)"),
    errno.EDQUOT: ("the disk quota is used up", "free some space or write elsewhere (--out)"),
    errno.EROFS: ("the file system is read-only", "write elsewhere (--out)"),
    errno.EACCES: ("permission denied", "write to a folder you may write to (--out)"),
    errno.EPERM: ("operation not permitted", "write to a folder you may write to (--out)"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "choose a shorter --out or model name"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another --out"),
    errno.EEXIST: ("something is already there (a dangling symbolic link?)", "remove it or choose another --out"),
    errno.ELOOP: ("too many symbolic links", "choose another --out"),
}


def os_error_advice(exc: OSError) -> tuple[str, str]:
    """What the file system said, in words, and what to do about it."""
    return WRITE_ADVICE.get(exc.errno or 0, (exc.strerror or str(exc), "check the path and where it points"))


def write_error(path: Path, exc: OSError) -> UsageError:
    """The error for a file or folder that cannot be written (exit 2: the place to write is the user's to fix)."""
    happened, advice = os_error_advice(exc)
    with contextlib.suppress(OSError):  # looking at a name too long fails as well
        if path.is_symlink() and not path.exists():
            happened = f"it is a symbolic link to {os.readlink(path)}, which does not exist"
            advice = "remove the link or choose another --out"
    return UsageError(f"cannot write {path}: {happened}: {advice}", str(path))


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into layerspec's error for it."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from None


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix); move it into place only if the block succeeds.

    Whatever happens, the temporary file is gone afterwards; an OSError (full disk, read-only folder, a name
    too long) becomes a UsageError naming `path`.
    """
    tmp: Path | None = None
    try:
        # Held back: no signal between creating the temporary file and knowing its name.
        with interrupts.deferred(), writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
            os.close(fd)
            tmp = Path(tmp_name)
        with writing(path):
            # mkstemp creates the file private (0600); artefacts are meant to be read like any other file.
            os.chmod(tmp, 0o644)
            yield tmp
            os.replace(tmp, path)
    finally:
        if tmp is not None:
            with interrupts.deferred(), contextlib.suppress(OSError):
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
