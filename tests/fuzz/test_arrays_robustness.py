"""Robustness fuzzing of the arrays format: damaged .npz files end in a DataError, never in another exception,
an unpickled object or an allocation of a size the damaged header claims."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_settings import FUZZ, fuzz_examples, record
from hypothesis import given, settings
from hypothesis import strategies as st

from layerspec.data import load_dataset
from layerspec.errors import DataError
from layerspec.spec import load_spec

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SPEC = """\
name: tiny
input: {shape: [6]}
layers:
  - {type: Dense, units: 3, activation: softmax}
data: {format: arrays, dir: ., train: train.npz, test: null, labels: sparse}
"""


def _good_npz(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buffer, x=rng.normal(size=(8, 6)).astype(np.float32), y=np.arange(8) % 3)
    return buffer.getvalue()


GOOD = {False: _good_npz(False), True: _good_npz(True)}


@settings(FUZZ, max_examples=fuzz_examples(0.5, minimum=30))
@given(
    compressed=st.booleans(),
    cut=st.integers(0, len(GOOD[False]) - 1),
    flips=st.lists(st.tuples(st.integers(0, len(GOOD[False]) - 1), st.integers(0, 255)), max_size=8),
    truncate=st.booleans(),
)
def test_damaged_npz_loads_or_is_refused(
    compressed: bool, cut: int, flips: list[tuple[int, int]], truncate: bool
) -> None:
    data = bytearray(GOOD[compressed])
    for at, value in flips:
        if at < len(data):
            data[at] = value
    if truncate or not flips:
        del data[min(cut, len(data) - 1) :]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "spec.yaml").write_text(SPEC, encoding="utf-8")
        (folder / "train.npz").write_bytes(bytes(data))
        try:
            dataset = load_dataset(load_spec(folder / "spec.yaml"))
        except DataError as exc:
            assert str(exc).strip()
            record("data: damaged .npz files", "refused (DataError)")
            return
        assert bool(flips) and not truncate, "a truncated file loaded"
        assert isinstance(dataset.train.x, np.ndarray) and np.isfinite(dataset.train.x).all()
        record("data: damaged .npz files", "loaded")
