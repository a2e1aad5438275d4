"""SIGTERM raised as KeyboardInterrupt by the CLI's handler, and held back where files move into place."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from layerspec import interrupts


@pytest.fixture
def installed() -> Iterator[None]:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)


def test_sigterm_becomes_a_keyboard_interrupt_naming_it(installed: None) -> None:
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0)  # a Python signal handler runs at the next bytecode; make sure there is one


def test_deferred_block_finishes_before_the_signal(installed: None) -> None:
    done = []
    with pytest.raises(KeyboardInterrupt, match="SIGINT"), interrupts.deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("first")
        with interrupts.deferred():  # nested: still held back
            done.append("second")
        done.append("third")
    assert done == ["first", "second", "third"]
