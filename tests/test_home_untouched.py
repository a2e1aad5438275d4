"""A command writes its run folder, runs/.current and reports/, and nothing else: not in HOME, not in TMPDIR.

The training logs to TensorBoard too (`--tensorboard`), into the run folder.

Keras (~/.keras/keras.json), Matplotlib (font caches in ~/.cache and ~/.config) and TensorFlow's or Keras's
temporary files are what would otherwise appear. The commands run in one child process, as the `layerspec` entry
point runs them, with HOME and TMPDIR pointing at empty folders: Keras reads its settings once, when first imported,
so the test process (which imported it long ago) could not show it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

pytestmark = [pytest.mark.keras, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SPEC = """\
name: homeless
input:
  shape: [64, 64, 3]
layers:
  - type: Conv2D
    filters: 2
    kernel_size: 8
    strides: 8
  - type: Flatten
  - type: Dense
    units: 6
    activation: softmax
data:
  dir: .
  train: train.h5
  test: test.h5
  validation_split: 0.25
train:
  batch_size: 12
  epochs: 1
  schedule: {type: cosine}
"""
CHILD = """\
import json, sys
from layerspec.cli import main
codes = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["layerspec", *args]
    try:
        main()
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code or 0)
# What TensorBoard would show: the scalar tags of each event folder, and whether a graph was written.
import tensorflow as tf
from pathlib import Path
board = {}
for events in sorted(Path("runs/homeless/tensorboard").rglob("events.out.tfevents.*")):
    tags = board.setdefault(events.parent.name, set())
    for event in tf.compat.v1.train.summary_iterator(str(events)):
        tags.update(value.tag for value in event.summary.value)
        if event.graph_def:
            tags.add("<graph>")
print(json.dumps({name: sorted(tags) for name, tags in board.items()}))
print(json.dumps(codes))
"""
COMMANDS = [
    ["build", "spec.yaml"],
    ["train", "--tensorboard"],
    ["train", "--resume", "--epochs", "3"],  # refused: the schedule was planned for 1 epoch
    ["predict", "sign.png"],
    ["report"],
]


def write_inputs(work: Path, signs_subset: Callable[..., Path]) -> None:
    """24 training and 12 test images of SIGNS (4 and 2 of each class), one PNG to predict, and the spec."""
    from PIL import Image

    signs_subset(work, train=4, test=2)
    with h5py.File(work / "test.h5", "r") as handle:
        Image.fromarray(handle["test_set_x"][0]).save(work / "sign.png")
    (work / "spec.yaml").write_text(SPEC, encoding="utf-8")


def everything_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_build_train_predict_report_write_nothing_outside_the_run(
    tmp_path: Path, signs_subset: Callable[..., Path]
) -> None:
    home, temp, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for folder in (home, temp, work):
        folder.mkdir()
    write_inputs(work, signs_subset)
    inputs = set(everything_in(work))
    tools = ("KERAS_HOME", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "TMPDIR", "HOME")
    env = {k: v for k, v in os.environ.items() if k not in tools}
    env |= {"HOME": str(home), "TMPDIR": str(temp), "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(COMMANDS)],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    codes = json.loads(done.stdout.strip().splitlines()[-1])
    assert codes == [0, 0, 2, 0, 0], done.stdout + done.stderr[-3000:]
    assert "schedule was planned for 1 epoch, not 3" in done.stderr
    assert everything_in(home) == [], "HOME must stay empty"
    assert everything_in(temp) == [], "TMPDIR must stay empty"
    written = {p for p in set(everything_in(work)) - inputs if not p.startswith(("runs", "reports"))}
    assert written == set()
    assert (work / "runs" / "homeless" / "model.keras").is_file()
    assert (work / "reports" / "homeless.html").is_file()
    board = json.loads(done.stdout.strip().splitlines()[-2])
    assert {"epoch_loss", "epoch_learning_rate", "epoch_accuracy"} <= set(board["train"]), board
    assert "<graph>" in board["train"] or "keras" in board["train"], board
    assert "epoch_loss" in board["validation"], board
