"""`layerspec build`: the run folder, its contract, errors, the memory guard, missing Graphviz, atomicity."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from layerspec.check import check_file
from layerspec.cli import app
from layerspec.compile import check_memory
from layerspec.errors import SpecError

SPECS = Path(__file__).resolve().parent.parent / "specs"
SIGNS = SPECS / "signs.yaml"
JSON_KEYS = {"run_dir", "model", "summary", "dot", "svg", "png", "params"}
RUN_FILES = {
    "spec.yaml",
    "model.keras",
    "summary.txt",
    "summary.json",
    "model.dot",
    "model.svg",
    "model.png",
    "build.json",
}
HUGE = """\
name: huge
input: {shape: [4096]}
layers:
  - {type: Dense, name: wide, units: 1000000000}
"""

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """specs/signs.yaml built once with the default run folder, from a scratch working directory."""
    work = tmp_path_factory.mktemp("work")
    before = Path.cwd()
    os.chdir(work)
    try:
        result = invoke("build", str(SIGNS), "--json")
        assert result.exit_code == 0, result.stderr
        yield work, json.loads(result.stdout)
    finally:
        os.chdir(before)


def test_json_lists_every_file_written(built: tuple[Path, dict[str, Any]]) -> None:
    work, payload = built
    assert set(payload) >= JSON_KEYS
    assert payload["params"] == 170_438
    run_dir = work / payload["run_dir"]
    assert run_dir == work / "runs" / "signs_cnn"
    for key, name in [("model", "model.keras"), ("dot", "model.dot"), ("svg", "model.svg"), ("png", "model.png")]:
        assert work / payload[key] == run_dir / name
    assert work / payload["summary"] == run_dir / "summary.txt"
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES  # no staging folder left behind


def test_run_becomes_current(built: tuple[Path, dict[str, Any]]) -> None:
    work, _ = built
    record = json.loads((work / "runs" / ".current").read_text())
    assert record == {"format_version": 1, "run": str((work / "runs" / "signs_cnn").resolve())}


def test_run_folder_contents(built: tuple[Path, dict[str, Any]], cli: Callable[..., Any]) -> None:
    work, _ = built
    run_dir = work / "runs" / "signs_cnn"
    assert (run_dir / "spec.yaml").read_bytes() == SIGNS.read_bytes()
    check = cli("check", str(SIGNS), "--json")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary.pop("format_version") == 1  # otherwise `check --json`'s object, each layer with its block
    for layer in summary["layers"]:
        layer.pop("block", None)
    printed = json.loads(check.stdout)
    assert printed.pop("memory")["batch_size"] == 16  # the estimate is check's, not part of the run folder
    for layer in printed["layers"]:  # run records leave out nulls: no receptive field after Flatten
        for key in ("receptive_field", "effective_stride"):
            if layer[key] is None:
                del layer[key]
    assert summary == printed
    table = (run_dir / "summary.txt").read_text()
    assert "% params" in table and "% MACs" in table and "Total MACs: 87,344,768" in table
    assert "fc (Dense)" in table and "38.1%" in table  # fc holds 64,902 / 170,438 of the parameters
    record = json.loads((run_dir / "build.json").read_text())
    assert record["spec_sha256"] == hashlib.sha256(SIGNS.read_bytes()).hexdigest()
    assert record["command"].startswith("layerspec ")
    assert set(record["versions"]) >= {"layerspec", "tensorflow", "keras"}
    assert record["created"].endswith("+00:00")
    assert (run_dir / "model.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (run_dir / "model.svg").read_bytes()


def test_model_reloads_in_safe_mode(built: tuple[Path, dict[str, Any]], keras: Any) -> None:
    work, payload = built
    model = keras.saving.load_model(work / payload["model"], safe_mode=True)
    assert model.count_params() == 170_438
    assert [layer.name for layer in model.layers] == [r.name for r in check_file(SIGNS).summary.layers]


def test_table_output_without_json(tmp_path: Path) -> None:
    result = invoke("build", str(SIGNS), "--out", str(tmp_path / "run"), "--rankdir", "LR")
    assert result.exit_code == 0, result.stderr
    assert "conv0 (Conv2D)" in result.stdout and "% params" in result.stdout
    assert "rankdir=LR" in (tmp_path / "run" / "model.dot").read_text()


def test_bad_spec_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SIGNS.read_text().replace("filters: 32", "filters: -32"))
    result = invoke("build", str(bad), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{bad}:")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_expect_mismatch_is_exit_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SIGNS.read_text().replace("params: 170438", "params: 170439"))
    result = invoke("build", str(spec), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "expect.params: expected 170,439, but the model has 170,438" in result.stderr
    assert not (tmp_path / "run").exists()


def test_too_large_model_is_refused_before_allocating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_compile(*_: Any) -> None:
        raise AssertionError("compile_model was called for a model that cannot fit")

    monkeypatch.setattr("layerspec.build.compile_model", must_not_compile)
    spec = tmp_path / "huge.yaml"
    spec.write_text(HUGE)
    result = invoke("build", str(spec), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result.stderr
    assert f"{spec}:4:5: error: the model is too large for this machine" in result.stderr
    assert "4,097,000,000,000 parameters" in result.stderr and "'wide'" not in result.stderr
    assert "layers[0] (wide)" in result.stderr
    assert not (tmp_path / "run").exists()


def test_memory_guard_compares_with_available_memory() -> None:
    checked = check_file(SIGNS)
    needed = 170_438 * 16
    check_memory(checked, available=needed)  # exactly enough: accepted
    with pytest.raises(SpecError, match="too large"):
        check_memory(checked, available=needed - 1)


def test_without_graphviz_everything_else_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    assert invoke("build", str(SIGNS), "--out", str(run_dir)).exit_code == 0
    assert (run_dir / "model.svg").exists()
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no `dot` anywhere
    result = invoke("build", str(SIGNS), "--out", str(run_dir), "--json")
    assert result.exit_code == 0, result.stderr
    assert "apt-get install graphviz" in result.stderr and "brew install graphviz" in result.stderr
    payload = json.loads(result.stdout)
    assert payload["svg"] is None and payload["png"] is None
    assert payload["dot"] == str(run_dir / "model.dot")
    assert "conv0" in (run_dir / "model.dot").read_text()
    # The previous build's pictures showed what may be another model: they are gone, not left stale.
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES - {"model.svg", "model.png"}


def test_interrupted_build_leaves_previous_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    assert invoke("build", str(SIGNS), "--out", str(run_dir)).exit_code == 0
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    # Interrupt after the summaries, diagram and model are staged, before anything is moved into place.
    monkeypatch.setattr("layerspec.build.build_record", interrupt)
    changed = tmp_path / "changed.yaml"
    changed.write_text(SIGNS.read_text().replace("units: 6", "units: 7").split("expect:")[0])
    result = invoke("build", str(changed), "--out", str(run_dir))
    assert result.exit_code == 130
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_out_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = invoke("build", str(SIGNS), "--out", str(target))
    assert result.exit_code == 2
    assert "is not a folder" in result.stderr
