"""`build` and `train` refuse exactly what `check` refuses, with the same messages, before anything is built.

Every bad case of tests/cases/bad is given to all three commands; every spec `check` passes gets past `train`'s
own checks and stops only at the data (an empty `--data` folder, so nothing is ever trained here). The rule that
needs the data's size is tried on a tiny generated dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

CASES = Path(__file__).parent / "cases"
BAD = sorted((CASES / "bad").glob("*.expect"))
PASSING = sorted(
    [
        *(CASES / "good").glob("*.yaml"),
        *(CASES / "warn").glob("*.yaml"),
        *(CASES.parent.parent / "specs").glob("*.yaml"),
    ]
)
# The command's own complaint about a path that is no spec (a usage error), not a spec error.
TRAIN_OWN = {"missing_file"}


@pytest.fixture(autouse=True)
def _run_from_repo(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)


def relative(path: Path) -> str:
    return str(path.relative_to(Path.cwd()))


@pytest.mark.parametrize("expect_file", BAD, ids=[f.stem for f in BAD])
def test_build_and_train_refuse_what_check_refuses(cli: Callable[..., Any], expect_file: Path, tmp_path: Path) -> None:
    spec = relative(expect_file.with_suffix(".yaml"))
    checked = cli("check", spec)
    assert checked.exit_code == 2, checked.output
    out = tmp_path / "run"
    built = cli("build", spec, "--out", str(out))
    assert (built.exit_code, built.stderr) == (2, checked.stderr)
    if expect_file.stem not in TRAIN_OWN:
        trained = cli("train", spec, "--out", str(out), "--data", str(tmp_path / "no-data"), "--epochs", "1")
        assert (trained.exit_code, trained.stderr) == (2, checked.stderr)
    assert not out.exists(), "a refused spec wrote a run folder"


@pytest.mark.parametrize("spec_file", PASSING, ids=[f.stem for f in PASSING])
def test_train_refuses_nothing_check_passes(cli: Callable[..., Any], spec_file: Path, tmp_path: Path) -> None:
    """With no data to read, `train` of a spec check passes fails for the data (exit 3), not for the spec."""
    spec = relative(spec_file)
    assert cli("check", spec).exit_code == 0
    out = tmp_path / "run"
    trained = cli("train", spec, "--out", str(out), "--data", str(tmp_path / "no-data"), "--epochs", "1")
    assert trained.exit_code == 3, trained.output
    assert not out.exists()


@pytest.mark.parametrize("seed", ["2147483648", "-1", "99999999999999999999"])
def test_seed_out_of_range_is_refused(cli: Callable[..., Any], tmp_path: Path, seed: str) -> None:
    spec = relative(CASES / "good" / "sequential.yaml")
    result = cli("train", spec, "--seed", seed, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.output
    expected = f"--seed {seed} is out of range: a seed is an integer from 0 to 2147483647 (as train.seed)"
    assert result.stderr == f"layerspec: error: {expected}\n"


TINY = """\
name: tiny
input:
  shape: [8, 8, 3]
layers:
  - type: Flatten
  - type: Dense
    units: 3
    activation: softmax
data:
  dir: .
  train: train.h5
  test: null
  validation_split: 0.25
train:
  batch_size: 16
"""


def test_batch_larger_than_the_training_split_is_refused_before_building(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    with h5py.File(tmp_path / "train.h5", "w") as handle:
        handle.create_dataset("train_set_x", data=np.zeros((12, 8, 8, 3), np.uint8))
        handle.create_dataset("train_set_y", data=np.arange(12) % 3)
    spec = tmp_path / "spec.yaml"
    spec.write_text(TINY, encoding="utf-8")
    assert cli("check", str(spec)).exit_code == 0  # the count is not in the spec
    out = tmp_path / "run"
    result = cli("train", str(spec), "--out", str(out), "--epochs", "1")
    assert result.exit_code == 2, result.output
    assert f"{spec}:15:15: error: batch_size 16 is larger than the training split (9 examples" in result.stderr
    assert not out.exists()
