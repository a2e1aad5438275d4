"""A result is never lost: where a new run goes, what a trained run refuses, and a replaced run replaced whole.

Also the run-folder contract these rules stand on: the stages, `format_version`, the `runs/.current` record and
the spec's hash in every record. The tests that train use the tiny spec of test_run_safety (a second or two).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import FakeRun, make_run
from test_run_safety import SPEC, invoke, leftovers, snapshot, write_data, write_spec

from layerspec.build import summary_record
from layerspec.check import check_file
from layerspec.errors import DataError, Diagnostic, SpecError, UsageError
from layerspec.run import RunFolder, Stage, checkpoint_state, current_run, folder, set_current_run
from layerspec.run.replace import choose_target, staged

OTHER = SPEC.replace("filters: 2", "filters: 3")  # another spec of the same name


def sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def edit(path: Path, **changes: Any) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes), encoding="utf-8")


# ------------------------------------------------------------------------------------------------ no TensorFlow


def test_stages_follow_the_files(tmp_path: Path) -> None:
    run = RunFolder(make_run(tmp_path, FakeRun(trained=False)))
    assert run.stage() is Stage.BUILT and run.training_results() == []
    (run.file(folder.CHECKPOINTS)).mkdir()
    run.write_bytes(folder.CHECKPOINT, b"")
    assert run.stage() is Stage.INTERRUPTED
    trained = RunFolder(make_run(tmp_path, FakeRun(name="done")))
    assert trained.stage() is Stage.EVALUATED
    trained.file(folder.METRICS).unlink()
    assert trained.stage() is Stage.TRAINED
    assert RunFolder(tmp_path / "nothing").stage() is None and not RunFolder(tmp_path).is_run()


def test_every_writer_records_the_format_version(tmp_path: Path) -> None:
    run = RunFolder(make_run(tmp_path))
    for name in (folder.BUILD, folder.SUMMARY_JSON, folder.HISTORY, folder.TRAIN, folder.METRICS):
        assert json.loads(run.file(name).read_text())["format_version"] == 1, name


@pytest.mark.parametrize("name", [folder.BUILD, folder.HISTORY, folder.METRICS, folder.TRAIN, folder.SUMMARY_JSON])
def test_a_newer_format_is_refused_with_exit_3(tmp_path: Path, name: str) -> None:
    run = make_run(tmp_path)
    edit(run / name, format_version=2, field_from_the_future=True)
    result = invoke("report", str(run), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 3, result.output
    assert f"{run / name}: error: format_version 2: written by a newer layerspec" in result.stderr
    assert "upgrade layerspec" in result.stderr and not (tmp_path / "r.html").exists()


def test_an_older_file_without_a_version_is_read(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    for name in (folder.BUILD, folder.HISTORY, folder.METRICS, folder.TRAIN):
        raw = json.loads((run / name).read_text())
        raw.pop("format_version")
        raw.pop("spec_sha256", None)  # written before the records named their spec
        (run / name).write_text(json.dumps(raw), encoding="utf-8")
    result = invoke("report", str(run), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", [folder.HISTORY, folder.METRICS, folder.TRAIN])
def test_results_of_another_spec_are_refused(tmp_path: Path, name: str) -> None:
    run = make_run(tmp_path)
    edit(run / name, spec_sha256=sha(OTHER))
    result = invoke("report", str(run), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 3, result.output
    assert f"{run / name}: error: spec_sha256: these results come from spec {sha(OTHER)[:12]}" in result.stderr
    assert "they are not this model's" in result.stderr and not (tmp_path / "r.html").exists()


def test_a_checkpoint_of_a_newer_format_is_refused(tmp_path: Path) -> None:
    state = {"epoch": 0, "history": [], "seed": 1, "spec_sha256": "0" * 64}
    assert checkpoint_state(json.dumps(state), tmp_path / "last.npz").format_version == 0  # before versioning
    with pytest.raises(DataError, match="format_version 3: written by a newer layerspec"):
        checkpoint_state(json.dumps(state | {"format_version": 3}), tmp_path / "last.npz")


def test_current_run_is_a_typed_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = make_run(tmp_path)
    set_current_run(run)
    assert json.loads((tmp_path / "runs" / ".current").read_text()) == {"format_version": 1, "run": str(run)}
    assert current_run() == run
    (tmp_path / "runs" / ".current").write_text(f"  {run}\n", encoding="utf-8")  # as older versions wrote it
    assert current_run() == run
    (tmp_path / "runs" / ".current").write_text('{"format_version": 7, "run": "x"}', encoding="utf-8")
    with pytest.raises(DataError, match="format_version 7: written by a newer layerspec"):
        current_run()
    (tmp_path / "runs" / ".current").write_text('{"run": 5}', encoding="utf-8")
    with pytest.raises(DataError, match="run: Input should be a valid string"):
        current_run()


def test_summary_json_names_each_layers_block(tmp_path: Path) -> None:
    checked = check_file(Path(__file__).parents[1] / "specs" / "blocks_example.yaml")
    summary = summary_record(checked)
    blocks = {layer.name: layer.block for layer in summary.layers}
    expected = {n.name: n.origin.block for n in checked.graph.nodes if n.origin is not None}
    assert any(expected.values()) and all(blocks[name] == block for name, block in expected.items())
    run = RunFolder(make_run(tmp_path, FakeRun(trained=False)))
    first = summary_record(check_file(run.file(folder.SPEC)))
    layers = [layer.model_copy(update={"block": "stage1"}) for layer in first.layers]
    run.write(folder.SUMMARY_JSON, first.model_copy(update={"layers": layers}))
    result = invoke("report", str(run.path), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.output
    assert (
        "<th>Block</th>" in (tmp_path / "r.html").read_text() and "<td>stage1</td>" in (tmp_path / "r.html").read_text()
    )


def test_top_k_figures_are_kept_and_shown(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    history = json.loads((run / folder.HISTORY).read_text())
    for epoch in history["epochs"]:
        epoch |= {"top_2_accuracy": 0.875, "val_top_2_accuracy": 0.625}
    (run / folder.HISTORY).write_text(json.dumps(history), encoding="utf-8")
    epochs = RunFolder(run).history().epochs  # type: ignore[union-attr]
    assert epochs[0].extra_figures() == {"top_2_accuracy": 0.875, "val_top_2_accuracy": 0.625}
    assert invoke("report", str(run), "--out", str(tmp_path / "r.html")).exit_code == 0
    page = (tmp_path / "r.html").read_text()
    assert "Top 2 accuracy" in page and "Val top 2 accuracy" in page and "0.625" in page


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs"


def test_a_taken_name_goes_to_the_next_free_folder(runs: Path) -> None:
    trained = make_run(runs.parent)  # runs/tiny, trained
    spec = sha((trained / "spec.yaml").read_text())
    target = choose_target(None, "tiny", spec, overwrite=False)
    assert target.path == Path("runs/tiny-2")
    assert target.note == "runs/tiny is taken (it holds training results: train.json, history.json, metrics.json): " \
        "writing runs/tiny-2"  # fmt: skip
    make_run(runs.parent, FakeRun(name="tiny-2", trained=False, with_data=False))  # another spec's build
    assert choose_target(None, "tiny", sha("other"), overwrite=False).path == Path("runs/tiny-3")
    # The same spec's build-only run is built again in place: nothing there is lost.
    same = sha((runs / "tiny-2" / "spec.yaml").read_text())
    assert choose_target(None, "tiny-2", same, overwrite=False) == choose_target(None, "tiny-2", same, overwrite=True)
    assert choose_target(None, "tiny-2", same, overwrite=False).path == Path("runs/tiny-2")
    assert choose_target(None, "tiny", spec, overwrite=True).path == Path("runs/tiny")
    # A spec edited since its build-only run was made: the same file, so its folder is reused.
    edited = choose_target(None, "tiny-2", sha("edited"), overwrite=False, spec_path=runs / "tiny-2" / "spec.yaml")
    assert edited.path == Path("runs/tiny-2") and edited.note is None


def test_out_over_a_trained_run_or_a_foreign_folder_is_refused(tmp_path: Path) -> None:
    trained = make_run(tmp_path)
    with pytest.raises(UsageError, match=r"holds a trained run .*: add --overwrite to replace it"):
        choose_target(trained, "tiny", "x", overwrite=False)
    assert choose_target(trained, "tiny", "x", overwrite=True).path == trained
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.tex").write_text("a day's work", encoding="utf-8")
    for overwrite in (False, True):
        with pytest.raises(UsageError, match=r"not a run folder .*choose a new or empty folder"):
            choose_target(mine, "tiny", "x", overwrite=overwrite)


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def hidden(beside: Path, kind: str, pid: int | str, text: str = "x") -> Path:
    path = beside.parent / f".{beside.name}.{kind}-{pid}-abc_{kind}{text}"
    path.mkdir(parents=True)
    (path / "file").write_text(text, encoding="utf-8")
    return path


def test_hidden_folders_of_a_killed_command_are_removed_by_the_next(tmp_path: Path) -> None:
    run = RunFolder(make_run(tmp_path))
    before = snapshot(run.path)
    dead = dead_pid()
    stale = [hidden(run.path, "new", dead), hidden(run.path, "old", dead)]
    kept = [hidden(run.path, "new", os.getpid(), "live"), run.path.parent / f".{run.path.name}.new-legacy"]
    kept[1].mkdir()
    with staged(run.path) as staging:
        assert staging.path.name.startswith(f".{run.path.name}.new-{os.getpid()}-")
        assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert snapshot(run.path) == before and all(p.exists() for p in kept)


def test_a_run_set_aside_by_a_killed_command_is_put_back(tmp_path: Path) -> None:
    """Killed between moving the old run aside and the new one in: the old run comes back, the new one goes."""
    run = RunFolder(make_run(tmp_path))
    before = snapshot(run.path)
    dead = dead_pid()
    aside = run.path.parent / f".{run.path.name}.old-{dead}-abc123"
    os.rename(run.path, aside)
    half = hidden(run.path, "new", dead)
    with pytest.raises(UsageError, match="holds a trained run"):
        choose_target(run.path, "tiny", "x", overwrite=False)  # it is seen as the trained run it is
    assert snapshot(run.path) == before and not aside.exists() and not half.exists()


# ------------------------------------------------------------------------------------------------ real commands


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder_ = tmp_path_factory.mktemp("never-lose")
    write_data(folder_)
    write_spec(folder_)
    (folder_ / "other.yaml").write_text(OTHER.format(extra=""), encoding="utf-8")
    (folder_ / "long.yaml").write_text(OTHER.format(extra="").replace("epochs: 1", "epochs: 500"), encoding="utf-8")
    previous = Path.cwd()
    os.chdir(folder_)  # runs/.current stays in here
    yield folder_
    os.chdir(previous)


@pytest.fixture(scope="module")
def trained_once(workdir: Path) -> Path:
    result = invoke("train", str(workdir / "spec.yaml"), "--out", str(workdir / "trained"))
    assert result.exit_code == 0, result.output
    return workdir / "trained"


@pytest.fixture
def trained(trained_once: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_once, copy)
    return copy


def assert_untouched(run: Path, before: dict[str, str]) -> None:
    assert snapshot(run) == before and not leftovers(run)


@pytest.mark.parametrize("command", ["train", "build"])
def test_another_spec_over_a_trained_run_is_refused(trained: Path, workdir: Path, command: str) -> None:
    before = snapshot(trained)
    result = invoke(command, str(workdir / "other.yaml"), "--out", str(trained))
    assert result.exit_code == 2, result.output
    assert f"{trained}: error: the folder holds a trained run (train.json, history.json, history.csv" in result.stderr
    assert "add --overwrite to replace it, or choose another --out" in result.stderr
    assert_untouched(trained, before)


def test_a_refused_spec_over_a_trained_run_leaves_it_as_it_was(trained: Path, workdir: Path) -> None:
    before = snapshot(trained)
    bad = workdir / "bad.yaml"
    bad.write_text(OTHER.format(extra="").replace("units: 3", "units: -3"), encoding="utf-8")
    result = invoke("train", str(bad), "--out", str(trained), "--overwrite")
    assert result.exit_code == 2, result.output
    assert str(bad) in result.stderr and "Traceback" not in result.output
    assert_untouched(trained, before)


def test_a_spec_refused_after_its_build_leaves_the_trained_run_as_it_was(
    trained: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused once training has begun (the new build already made): nothing of it reaches the run."""

    def refuse(*_: Any) -> None:
        raise SpecError([Diagnostic(str(workdir / "other.yaml"), 1, 1, "refused by training")])

    before = snapshot(trained)
    monkeypatch.setattr("layerspec.train.run.check_training_data", refuse)  # the check inside train_run
    result = invoke("train", str(workdir / "other.yaml"), "--out", str(trained), "--overwrite")
    assert result.exit_code == 2, result.output
    assert "other.yaml:1:1: error: refused by training" in result.stderr
    assert_untouched(trained, before)


def test_overwrite_replaces_the_whole_run(trained: Path, workdir: Path) -> None:
    (trained / "checkpoints" / "stale.npz").write_bytes(b"from the old run")
    result = invoke("train", str(workdir / "other.yaml"), "--out", str(trained), "--overwrite", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run_dir"] == str(trained)
    run = RunFolder(trained)
    expected = sha(OTHER.format(extra=""))
    assert run.stage() is Stage.EVALUATED and not (trained / "checkpoints" / "stale.npz").exists()
    records = [run.build(), run.train(), run.history(), run.metrics()]
    assert [r.spec_sha256 for r in records if r is not None] == [expected] * 4
    assert current_run() == trained.resolve() and not leftovers(trained)


def test_a_second_spec_of_the_same_name_gets_its_own_folder(trained: Path, workdir: Path, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    try:
        shutil.copytree(trained, tmp_path / "runs" / "tiny")
        before = snapshot(tmp_path / "runs" / "tiny")
        result = invoke("build", str(workdir / "other.yaml"))
        assert result.exit_code == 0, result.output
        assert "layerspec: runs/tiny is taken (it holds training results" in result.stderr
        assert "writing runs/tiny-2" in result.stderr
        assert RunFolder(tmp_path / "runs" / "tiny-2").stage() is Stage.BUILT
        assert_untouched(tmp_path / "runs" / "tiny", before)
    finally:
        os.chdir(workdir)


def start(workdir: Path, *args: str) -> subprocess.Popen[str]:
    layerspec = Path(sys.executable).parent / "layerspec"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [str(layerspec), *args], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_replacing_a_trained_run_leaves_it_byte_identical(
    trained: Path, workdir: Path, sig: signal.Signals
) -> None:
    before = snapshot(trained)
    process = start(workdir, "train", "long.yaml", "--out", str(trained), "--overwrite")
    assert process.stdout is not None
    for line in process.stdout:  # wait until training is under way, in the hidden folder beside the run
        if line.startswith("epoch 2/500"):
            break
    assert any(trained.parent.glob(f".{trained.name}.new-*/checkpoints/last.npz"))
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"{trained}: interrupted: stopped before training finished: {trained} is exactly as it was" in stderr
    assert "the new run was discarded" in stderr and "Traceback" not in stderr
    assert_untouched(trained, before)
