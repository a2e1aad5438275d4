"""SIGINT and SIGTERM during training: a stop at the next batch boundary, and the error that reports it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from layerspec.errors import EXIT_INTERRUPTED, Diagnostic, LayerspecError

SIGNAL_AT_EPOCH_ENV = "LAYERSPEC_TEST_SIGNAL_AT_EPOCH"  # test hook: SIGINT to itself at the start of that epoch


class Interrupted(LayerspecError):
    """Training stopped by SIGINT/SIGTERM after a checkpoint was saved (exit code 130)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], EXIT_INTERRUPTED)


@dataclass
class _StopRequest:
    """Set by the signal handler; the batch callback turns it into `model.stop_training`."""

    signum: int | None = None
    epoch: int = 0
    batch: int = 0


class _StopNow(Exception):
    """Raised by the batch hook to leave `model.fit` at a batch boundary, before the next batch runs."""


@contextmanager
def stop_on_signals(stop: _StopRequest) -> Iterator[None]:
    """SIGINT and SIGTERM request a stop at the next batch boundary instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.signum = signum

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
