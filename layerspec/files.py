"""Bounded reads of the small text files layerspec is pointed at (specs, a run folder's JSON records).

A path on the command line may name anything: a FIFO (opening it would wait for a writer forever), a device
such as /dev/zero (endless), a directory, or a file of gigabytes. Each is refused before its content is read,
and a regular file is read only up to the limit (plus one byte, to tell "exactly the limit" from "more"), so
neither time nor memory depends on what the path turns out to be.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# A run folder's records stay far below this (summary.json of a 100,000-layer model is about 20 MB).
MAX_RECORD_BYTES = 256 * 1024 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileRefused(OSError):
    """A path that is not a regular file, or a file larger than the limit; `str()` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def _refuse_kind(mode: int, what: str) -> None:
    for test, kind in _KINDS:
        if test(mode):
            raise FileRefused(f"is {kind}, not {what}")
    if not stat.S_ISREG(mode):
        raise FileRefused(f"is not a regular file, so it cannot be {what}")


def _size_text(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit:,} bytes"


def read_limited(path: Path, limit: int, what: str = "a regular file") -> bytes:
    """The bytes of the regular file `path`, refusing anything else and anything longer than `limit` bytes.

    Raises FileRefused (an OSError) for a wrong kind of file or one too large, and the usual OSError
    (FileNotFoundError, PermissionError, ...) when the file cannot be opened.
    """
    # The path is looked at first, so the message names the kind; the opened descriptor is looked at again,
    # since the path may have been swapped in between. O_NONBLOCK makes opening a FIFO return at once.
    _refuse_kind(os.stat(path).st_mode, what)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        _refuse_kind(info.st_mode, what)
        too_large = FileRefused(f"the file is larger than {_size_text(limit)}")
        if info.st_size > limit:
            raise too_large
        chunks, total = [], 0
        # A regular file may still grow while it is read, or report size 0 (/proc): read until EOF or limit + 1.
        while total <= limit:
            chunk = os.read(fd, min(limit + 1 - total, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise too_large
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_limited(path: Path, limit: int = MAX_RECORD_BYTES) -> str:
    """A run folder's text file (JSON record, SVG diagram) as UTF-8, bounded like a spec.

    Raises OSError (FileRefused among them) or UnicodeDecodeError (a ValueError), as `Path.read_text` would.
    """
    return read_limited(path, limit).decode("utf-8")
