"""Multi-worker training for real: worker processes on 127.0.0.1 that train one spec together, a worker killed
mid-training, the resume that completes it, and `train --workers N`.

The first tests need no TensorFlow (how batches are shared, TF_CONFIG, the launcher's command line and exit codes).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerspec.errors import UsageError
from layerspec.train.distributed import EXIT_WORKER_LOST, cluster, worker_share
from layerspec.train.launch import _job_code, free_ports, tf_config, worker_arguments

SPEC = """\
name: tiny_mw
input:
  shape: [64, 64, 3]
layers:
  - {type: Conv2D, name: conv, filters: 4, kernel_size: 5, strides: 4, activation: relu}
  - {type: MaxPooling2D, pool_size: 4}
  - {type: BatchNormalization, name: bn}
  - {type: Flatten}
  - {type: Dense, name: fc, units: 6, activation: softmax}
data:
  dir: .
  train: train.h5
  test: test.h5
  validation_split: 0.25
train:
  optimizer: {type: adam, learning_rate: 0.01}
  batch_size: 16
  epochs: 3
  keep: {weights: last}
  augment: {flip: horizontal, translate: 2}
  seed: 5
  deterministic: true
  strategy: {type: multi_worker}
"""
LAYERSPEC = str(Path(sys.executable).parent / "layerspec")


def test_every_global_batch_is_shared_out() -> None:
    shares = [worker_share(54, 16, 2, rank) for rank in range(2)]
    assert [len(s) for s in shares[0]] == [8, 8, 8, 3] and [len(s) for s in shares[1]] == [8, 8, 8, 3]
    together = np.sort(np.concatenate([np.concatenate(s) for s in shares]))
    assert list(together) == list(range(54))  # every example once
    # A last global batch smaller than the number of workers is dropped: every worker takes part in every step.
    assert [len(s) for s in worker_share(33, 16, 3, 2)] == [5, 5]


def test_tf_config_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_CONFIG", tf_config([1001, 1002, 1003], 2))
    here = cluster()
    assert (here.count, here.rank, here.task_type) == (3, 2, "worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}')
    with pytest.raises(UsageError, match="task worker 3 is not one of the cluster's tasks"):
        cluster()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UsageError, match="TF_CONFIG is not a cluster description"):
        cluster()


def test_the_launcher_command_line_and_exit_codes() -> None:
    assert worker_arguments(["train", "s.yaml", "--workers", "2", "--json", "--workers=3"]) == [
        "train", "s.yaml", "--json",
    ]  # fmt: skip
    assert len(set(free_ports(4))) == 4
    assert _job_code([0, 0]) == 0
    assert _job_code([0, -9]) == EXIT_WORKER_LOST  # a killed worker
    assert _job_code([4, 0]) == EXIT_WORKER_LOST
    assert _job_code([2, 2]) == 2


def test_workers_need_the_multi_worker_strategy(cli: Callable[..., Any], tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text(SPEC.replace("  strategy: {type: multi_worker}\n", ""), encoding="utf-8")
    result = cli("train", str(spec), "--workers", "2")
    assert result.exit_code == 2
    assert "--workers needs the multi-worker strategy, and the spec's is 'default'" in result.stderr


# ------------------------------------------------------------------------------------------- real workers


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, signs_subset: Callable[..., Path]) -> Iterator[Path]:
    folder = signs_subset(tmp_path_factory.mktemp("multi_worker"))
    (folder / "mw.yaml").write_text(SPEC, encoding="utf-8")
    yield folder


def start_workers(workdir: Path, *args: str, count: int = 2) -> list[subprocess.Popen[str]]:
    """`layerspec train mw.yaml ARGS --json` as `count` workers named by one TF_CONFIG."""
    ports = free_ports(count)
    processes = []
    for index in range(count):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": tf_config(ports, index)}
        env["LAYERSPEC_COLLECTIVE_TIMEOUT"] = "30"
        command = [LAYERSPEC, "train", "mw.yaml", *args, "--json"]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        processes.append(subprocess.Popen(command, cwd=workdir, env=env, text=True, **pipes))  # type: ignore[call-overload]
    return processes


@pytest.mark.keras
@pytest.mark.slow
def test_two_workers_end_with_the_same_weights_as_one_process(workdir: Path) -> None:
    scratch = set(Path(tempfile.gettempdir()).glob("layerspec-worker-*"))
    processes = start_workers(workdir, "--out", "two")
    outputs = [p.communicate(timeout=400) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    chief, other = (json.loads(stdout) for stdout, _ in outputs)
    # The same history (figures, and the epochs' mean time) and the same test figures, to the last bit: the
    # weights, BatchNormalization's moving statistics among them, are the same on both workers.
    assert chief["history"] == other["history"] and chief["metrics"] == other["metrics"]
    assert chief["run_dir"] == other["run_dir"] == "two"
    record = json.loads((workdir / "two" / "train.json").read_text())
    assert (record["replicas"], record["workers"]) == (2, 2)
    # The other worker wrote nothing but a scratch folder, which it removed.
    assert set(Path(tempfile.gettempdir()).glob("layerspec-worker-*")) <= scratch

    one = subprocess.run(
        [LAYERSPEC, "train", "mw.yaml", "--out", "one", "--json", "--set", "train.strategy.type=default"],
        cwd=workdir, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    alone = json.loads(one.stdout)["history"]["epochs"]
    for together, single in zip(chief["history"]["epochs"], alone, strict=True):
        assert together["loss"] == pytest.approx(single["loss"], rel=0.05)  # the same global batches


@pytest.mark.keras
@pytest.mark.slow
def test_a_killed_worker_stops_the_other_and_resume_completes(workdir: Path) -> None:
    chief, other = start_workers(workdir, "--out", "killed", "--epochs", "300")
    assert chief.stderr is not None
    for line in chief.stderr:  # epoch lines go to stderr under --json
        if line.startswith("epoch 2/300"):
            break
    other.send_signal(signal.SIGKILL)
    _, stderr = chief.communicate(timeout=200)  # bounded: the collective timeout, not a hang
    other.communicate()
    assert chief.returncode == EXIT_WORKER_LOST, stderr[-3000:]
    assert "worker 1 of the cluster" in stderr and "stopped answering" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    state = json.loads(bytes(np.load(workdir / "killed" / "checkpoints" / "last.npz")["state"]).decode())
    assert state["epoch"] >= 2

    resumed = subprocess.run(
        [LAYERSPEC, "train", "killed", "--workers", "2", "--resume", "--extend",
         "--epochs", str(state["epoch"] + 1), "--json"],
        cwd=workdir, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "LAYERSPEC_COLLECTIVE_TIMEOUT": "30"},
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    epochs = [e["epoch"] for e in json.loads(resumed.stdout)["history"]["epochs"]]
    assert epochs == list(range(1, state["epoch"] + 2))
    assert json.loads((workdir / "killed" / "train.json").read_text())["workers"] == 2
