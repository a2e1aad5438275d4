"""SIGTERM treated as SIGINT, and the few steps that neither may cut in half.

`layerspec` (the CLI's entry point) installs `handler` for both signals: each raises KeyboardInterrupt, so every
`finally` block and context manager on the way out runs (temporary files and staging folders are removed) and
the CLI exits 130 with a message. Without it SIGTERM would kill the process on the spot and leave them behind.
Training installs its own handler while it trains, which stops at the next batch boundary instead.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class _State:
    deferring = 0
    pending: int | None = None


def install() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt (naming the signal) in the main thread."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def handler(signum: int, frame: FrameType | None) -> None:
    if _State.deferring:
        _State.pending = signum
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal back until the block is done, then raise it: for a few renames that must all happen or none.

    Only where `install` ran (the CLI); elsewhere the block is interrupted as Python does by default.
    """
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if not _State.deferring and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            raise KeyboardInterrupt(signal.Signals(signum).name)
