"""`layerspec sweep` on Optuna: the search space, the objective's checks, trials as run folders, pruning, Ctrl-C,
two processes sharing one SQLite study, and `report SWEEP_DIR`.

The first tests need no TensorFlow; the others train the tiny spec of test_train for one or two epochs a trial.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_train import write_spec

from layerspec.errors import SpecError
from layerspec.spec import load_spec
from layerspec.sweep.space import override_text, parse_param, read_space

SPACE = "train.optimizer.learning_rate=log_uniform:0.001:0.05"


def test_distributions_are_read() -> None:
    choice = parse_param("layers.conv.filters=choice:2,4,8", "--space")
    assert (choice.kind, choice.choices) == ("choice", (2, 4, 8))
    words = parse_param("layers.fc.activation=choice:relu,softmax", "--space")
    assert words.choices == ("relu", "softmax")
    ranged = parse_param("train.batch_size=int:8:32", "--space")
    assert (ranged.kind, ranged.low, ranged.high) == ("int", 8.0, 32.0)
    assert parse_param(SPACE, "--space").kind == "log_uniform"
    assert parse_param("data.validation_split=uniform:0.1:0.3", "--space").kind == "uniform"


def test_override_text_reads_back_as_the_same_value() -> None:
    from layerspec.spec.yaml_source import parse_value

    for value in (16, 0.0123, "relu", "true", True, 1e-05):
        text = override_text("k", value)
        assert parse_value(text.split("=", 1)[1], "x")[0] == value, text


BAD_SPACES = [
    ("lr", "expected KEY=DIST"),
    ("train.batch_size=normal:1:2", "unknown distribution 'normal:1:2'"),
    ("train.batch_size=int:8", "int:LO:HI needs two integers"),
    ("train.batch_size=int:32:8", "needs finite LO < HI"),
    ("train.optimizer.learning_rate=log_uniform:0:1", "log_uniform needs LO > 0"),
    ("layers.conv.filters=choice:2,2", "a choice is listed twice"),
    ("layers.conv.filters=choice:[1]", "is not a plain value"),
    ("a..b=int:1:2", "'a..b' is not a key"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPACES, ids=[t for t, _ in BAD_SPACES])
def test_a_bad_space_is_refused(text: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        read_space([text], None)
    assert message in caught.value.diagnostics[0].message


def test_the_spec_search_section_adds_to_the_command_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "search:\n  train.batch_size: int:8:16\n  layers.conv.filters: choice:2,4\n")
    loaded = load_spec(spec)
    params = read_space(["layers.conv.filters=choice:3,5"], loaded.spec.search)
    assert [(p.key, p.choices or (p.low, p.high)) for p in params] == [
        ("layers.conv.filters", (3, 5)),
        ("train.batch_size", (8.0, 16.0)),
    ]
    with pytest.raises(SpecError, match="nothing to search"):
        read_space([], None)


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        ("test_accuracy", "a test-set figure is never a sweep's objective"),
        ("test_loss", "a test-set figure is never a sweep's objective"),
        ("val_top_5_accuracy", "not a validation figure this spec logs (one of val_loss, val_accuracy)"),
        ("accuracy", "not a validation figure"),
    ],
)
def test_the_objective_is_a_validation_figure(
    cli: Callable[..., Any], tmp_path: Path, objective: str, message: str
) -> None:
    spec = write_spec(tmp_path)
    result = cli("sweep", str(spec), "--space", SPACE, "--objective", objective, "--out", str(tmp_path / "s"))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "s" / "study.db").exists()  # refused before any study was made


def test_a_bad_set_in_a_sweep_is_named(cli: Callable[..., Any], tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    result = cli("sweep", str(spec), "--space", SPACE, "--set", "train.batch_sise=8")
    assert result.exit_code == 2
    assert result.stderr.startswith("--set train.batch_sise=8: error: unknown key 'batch_sise'")


# ------------------------------------------------------------------------------------------- trials that train


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, signs_subset: Callable[..., Path]) -> Iterator[Path]:
    folder = signs_subset(tmp_path_factory.mktemp("sweep"))
    write_spec(folder)
    previous = Path.cwd()
    os.chdir(folder)
    yield folder
    os.chdir(previous)


def sweep_command(out: str, *extra: str) -> list[str]:
    return ["sweep", "spec.yaml", "--space", SPACE, "--epochs", "1", "--out", out, "--json", *extra]


@pytest.mark.keras
@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(workdir: Path, cli: Callable[..., Any]) -> None:
    layerspec = Path(sys.executable).parent / "layerspec"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [str(layerspec), *sweep_command("shared", "--trials", "2", "--objective", "val_accuracy")]
    processes = [
        subprocess.Popen(args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=400) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    payloads = [json.loads(stdout) for stdout, _ in outputs]
    # Whichever process ended last saw the other's trials finished; both saw all four trials of the one study.
    assert all(p["study"] == "tiny_signs" and len(p["trials"]) == 4 for p in payloads)
    last = next(p for p in payloads if all(t["state"] != "RUNNING" for t in p["trials"]))
    assert sorted(t["number"] for t in last["trials"]) == [0, 1, 2, 3]
    for trial in last["trials"]:
        assert set(trial) == {"number", "value", "params", "state", "run_dir"}
        assert trial["state"] in ("COMPLETE", "PRUNED")
        assert (workdir / trial["run_dir"] / "spec.yaml").is_file()  # each trial is a run folder of its own
    done = [t for t in last["trials"] if t["state"] == "COMPLETE"]
    best = max(done, key=lambda t: t["value"])
    assert last["best"]["value"] == best["value"] and set(last["best"]) == {"number", "value", "params", "run_dir"}
    built = json.loads((workdir / best["run_dir"] / "build.json").read_text())
    assert built["overrides"] == [f"train.optimizer.learning_rate={best['params'][SPACE.split('=')[0]]!r}"]

    report = cli("report", "shared", "--out", str(workdir / "reports" / "shared.html"))
    assert report.exit_code == 0, report.output
    page = (workdir / "reports" / "shared.html").read_text()
    assert "Sweep tiny_signs" in page and page.count("<tr><td>") + page.count("<tr class='best'>") >= 4
    link = f"shared-best-trial-{last['best']['number']}.html"
    assert f"href='{link}'" in page and (workdir / "reports" / link).is_file()


@pytest.mark.keras
@pytest.mark.slow
def test_a_trial_worse_than_the_median_is_pruned(
    workdir: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    # The pruner's verdict depends on the figures; here it is decided, to test what a pruned trial leaves.
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: self.number == 1)
    result = cli(*sweep_command("pruned", "--trials", "2", "--epochs", "2"))
    assert result.exit_code == 0, result.output
    trials = json.loads(result.stdout)["trials"]
    assert [t["state"] for t in trials] == ["COMPLETE", "PRUNED"]
    pruned = workdir / trials[1]["run_dir"]
    assert (pruned / "checkpoints" / "last.npz").is_file() and not (pruned / "train.json").exists()
    assert "trial 1: epoch 1/2" in result.stderr and "trial 1: epoch 2/2" not in result.stderr


@pytest.mark.keras
@pytest.mark.slow
def test_ctrl_c_fails_the_trial_and_a_later_sweep_continues(
    workdir: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from layerspec.train import SIGNAL_AT_EPOCH_ENV

    monkeypatch.setenv(SIGNAL_AT_EPOCH_ENV, "1")  # SIGINT to itself as the first epoch starts
    stopped = cli(*sweep_command("stopped", "--trials", "3"))
    assert stopped.exit_code == 130, stopped.output
    assert "marked failed in study 'tiny_signs'; run the same `layerspec sweep` again" in stopped.stderr
    monkeypatch.delenv(SIGNAL_AT_EPOCH_ENV)
    again = cli(*sweep_command("stopped", "--trials", "1"))
    assert again.exit_code == 0, again.output
    trials = json.loads(again.stdout)["trials"]
    assert [t["state"] for t in trials] == ["FAIL", "COMPLETE"]
    assert json.loads((workdir / "stopped" / "sweep.json").read_text())["trials"][1]["state"] == "COMPLETE"


class _Trial:
    number = 0

    def __init__(self) -> None:
        self.reported: list[tuple[float, int]] = []

    def report(self, value: float, step: int) -> None:
        self.reported.append((value, step))

    def should_prune(self) -> bool:
        return True


def test_epochs_go_to_the_study_and_the_last_one_is_never_pruned() -> None:
    import optuna

    from layerspec.errors import UsageError
    from layerspec.sweep.run import TrialDisplay

    trial = _Trial()
    display = TrialDisplay(trial, "val_loss", None, epochs=2)
    with pytest.raises(optuna.TrialPruned):
        display.epoch_done({"epoch": 1, "val_loss": 0.5})
    display.epoch_done({"epoch": 2, "val_loss": 0.4})  # the last epoch: the trial completes with its value
    assert trial.reported == [(0.5, 1), (0.4, 2)]
    with pytest.raises(UsageError, match="the training logs no such figure"):
        TrialDisplay(trial, "val_accuracy", None, epochs=2).epoch_done({"epoch": 1, "loss": 1.0})


def test_a_storage_that_cannot_be_opened_is_refused(cli: Callable[..., Any], tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    result = cli("sweep", str(spec), "--space", SPACE, "--out", str(tmp_path / "s"), "--storage", "nosuch://x")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith("layerspec: error: --storage nosuch://x: cannot open the study")


@pytest.mark.keras
@pytest.mark.slow
def test_a_journal_file_holds_the_study(workdir: Path, cli: Callable[..., Any]) -> None:
    journal = workdir / "study.journal"
    result = cli(*sweep_command("journal", "--trials", "1", "--storage", f"journal:{journal}"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["trials"][0]["state"] == "COMPLETE" and journal.stat().st_size > 0
    assert not (workdir / "journal" / "study.db").exists()
