"""Robustness fuzzing of `layerspec check` and `layerspec build` with damaged specs.

Whatever the input, a command ends with exit code 0, 2 or 3 and clean `PATH:LINE:COL: error:` lines: never a
traceback or an "internal error" (exit 1), and nothing is written for a rejected spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_mutate import byte_mutants, seed_files, seed_trees, tree_mutants, tree_size
from fuzz_settings import FUZZ, fuzz_examples, record
from fuzz_specgen import specs
from hypothesis import event, given, settings
from hypothesis.control import current_build_context
from typer.testing import CliRunner

from layerspec.cli import app

# Keras and numpy warn about deprecations while building; not this test's concern.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SPECS = Path(__file__).resolve().parents[2] / "specs"
SEED_BYTES = [p.read_bytes() for p in seed_files()]
SEED_TREES = seed_trees()


@contextmanager
def in_empty_folder() -> Iterator[Path]:
    """A fresh working folder (so a stray write, e.g. of runs/, would show) that is removed afterwards."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def note(test: str, outcome: str) -> None:
    """Count the outcome for the report and in hypothesis's statistics (when running under @given)."""
    record(test, outcome)
    try:
        current_build_context()
    except Exception:
        return
    event(outcome)


def listing(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_clean(result: Any, allowed: tuple[int, ...] = (0, 2)) -> None:
    """Exit code in `allowed`, no traceback and no internal error; an error is reported as `...: error: ...`."""
    output = result.output
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"uncaught {type(result.exception).__name__}: {result.exception}\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    assert "internal error" not in output, output[-3000:]
    assert result.exit_code in allowed, f"exit code {result.exit_code}:\n{output[-3000:]}"
    if result.exit_code != 0:
        assert ": error: " in output, f"exit {result.exit_code} without an error line:\n{output[-3000:]}"


def run_check(data: bytes, test: str = "check: hand-written hostile documents") -> Any:
    with in_empty_folder() as folder:
        spec = folder / "spec.yaml"
        spec.write_bytes(data)
        result = CliRunner().invoke(app, ["check", str(spec)])
        if result.exit_code == 0:
            as_json = CliRunner().invoke(app, ["check", str(spec), "--json"])
            payload = json.loads(as_json.stdout)  # one JSON object, nothing else on stdout
            assert {"name", "params", "trainable_params", "non_trainable_params", "macs", "layers"} <= set(payload)
        assert listing(folder) == {"spec.yaml"}, f"check wrote files: {listing(folder)}"
    assert_clean(result)
    note(test, f"exit {result.exit_code}")
    return result


def test_there_are_seeds() -> None:
    assert len(SEED_BYTES) >= 3 and SEED_TREES


@settings(FUZZ, max_examples=fuzz_examples(1.0, minimum=50))
@given(data=byte_mutants(SEED_BYTES))
def test_check_survives_byte_mutations(data: bytes) -> None:
    run_check(data, "check: byte-level mutants")


@settings(FUZZ, max_examples=fuzz_examples(1.0, minimum=50))
@given(text=tree_mutants(SEED_TREES))
def test_check_survives_tree_mutations(text: str) -> None:
    run_check(text.encode("utf-8", errors="surrogatepass"), "check: tree-level mutants")


def _hostile_documents() -> dict[str, bytes]:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=False)
    )
    return {
        "billion_laughs": laughs.encode(),
        "deep_flow_lists": b"name: x\nlayers: " + b"[" * 50_000 + b"]" * 50_000,
        "deep_flow_maps": b"name: x\nlayers: " + b"{a: " * 20_000 + b"1" + b"}" * 20_000,
        "deep_block": "".join(" " * i + "a:\n" for i in range(3000)).encode(),
        "long_line": b"name: " + b"x" * 3_000_000,
        "huge_file": b"# " + b"x" * (5 * 2**20),
        "many_layers": b"name: x\ninput: {shape: [2]}\nlayers:\n" + b"  - {type: Dense, units: 1}\n" * 5_000,
        "recursive_alias": b"name: x\ninput: {shape: [2]}\nlayers: &l [*l]\n",
        "nul_bytes": b"name: x\x00\ninput: {shape: [2]}\n",
        "utf16": "name: x\ninput: {shape: [2]}\n".encode("utf-16"),
        "bom_then_garbage": b"\xef\xbb\xbf\xff\xfe",
        "python_object": b"!!python/object/apply:os.system ['touch pwned']\n",
        "python_name": b"name: !!python/name:os.system x\n",
        "set_tag": b"name: x\ninput: !!set {a, b}\n",
        "binary_tag": b"name: !!binary aGVsbG8=\n",
        "timestamp": b"name: 2001-12-14t21:59:43.10-05:00\ninput: {shape: [2]}\nlayers: [{type: Flatten}]\n",
        "merge_key": b"base: &b {type: Dense, units: 2}\nname: x\ninput: {shape: [2]}\nlayers: [{<<: *b}]\n",
        "complex_key": b"? [a, b]\n: 1\n",
        "many_documents": b"name: a\n---\nname: b\n",
        "huge_dense": b"name: x\ninput: {shape: [1000000]}\nlayers: [{type: Dense, units: 1000000000}]\n",
        "huge_input": b"name: x\ninput: {shape: [2147483647, 2147483647, 2147483647]}\nlayers: [{type: Flatten}]\n",
        "huge_repeat": b"name: x\ninput: {shape: [2]}\nblocks: {b: {layers: [{type: ReLU}]}}\n"
        b"layers: [{block: b, repeat: 1000}, {block: b, repeat: 1000}]\n",
        "nested_blocks": b"name: x\ninput: {shape: [2]}\nblocks:\n  a: {layers: [{block: b}]}\n"
        b"  b: {layers: [{block: a}]}\nlayers: [{block: a}]\n",
    }


HOSTILE = _hostile_documents()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_check_survives_hostile_documents(name: str) -> None:
    run_check(HOSTILE[name])
    assert not Path("pwned").exists()


def run_build(data: bytes, test: str = "build: hand-written hostile documents", previous: Path | None = None) -> Any:
    """`build --out` in a fresh folder; with `previous`, over a copy of that earlier good run folder."""
    with in_empty_folder() as folder:
        spec = folder / "spec.yaml"
        spec.write_bytes(data)
        out = folder / "out"
        if previous is not None:
            shutil.copytree(previous, out)
        before = snapshot(out)
        result = CliRunner().invoke(app, ["build", str(spec), "--out", str(out)])
        if result.exit_code != 0:
            after = snapshot(out)
            assert after == before, f"a rejected build changed {sorted(set(after.items()) ^ set(before.items()))}"
            assert listing(folder) - {"out"} - {f"out/{n}" for n in before} == {"spec.yaml"}, listing(folder)
        else:
            assert {"model.keras", "summary.json", "spec.yaml"} <= listing(out), listing(out)
    assert_clean(result)
    note(test, f"exit {result.exit_code}")
    return result


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with a hash of its bytes ({} when the folder does not exist)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _checks(tree: Any) -> bool:
    with in_empty_folder() as folder:
        (folder / "spec.yaml").write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
        return CliRunner().invoke(app, ["check", "spec.yaml"]).exit_code == 0


# Small seeds that check accepts, damaged once: about half still check, so build gets past the checker too.
GOOD_SMALL_TREES = [t for t in SEED_TREES if tree_size(t) < 300 and _checks(t)]


@pytest.mark.keras
@settings(FUZZ, max_examples=fuzz_examples(0.05, minimum=8))
@given(text=tree_mutants(GOOD_SMALL_TREES, most=1))
def test_build_survives_tree_mutations(text: str, previous_run: Path) -> None:
    """Over an earlier good run folder: a rejected spec leaves every file of it as it was."""
    run_build(text.encode("utf-8", errors="surrogatepass"), "build: tree-level mutants", previous=previous_run)


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("previous")
    spec = folder / "signs.yaml"
    shutil.copy(SPECS / "signs.yaml", spec)
    result = CliRunner().invoke(app, ["build", str(spec), "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder / "run"


@pytest.mark.keras
@pytest.mark.parametrize("name", ["huge_dense", "huge_input", "python_object", "nul_bytes"])
def test_build_survives_hostile_documents(name: str) -> None:
    run_build(HOSTILE[name])


@pytest.mark.keras
@settings(FUZZ, max_examples=fuzz_examples(0.1, minimum=6))
@given(spec=specs(max_layers=5))
def test_build_of_generated_specs_matches_check(spec: dict[str, Any]) -> None:
    """A spec check accepts builds (the compiler's own cross-check passes: no exit 1) and writes its run
    folder; a spec check refuses writes nothing."""
    text = yaml.safe_dump(spec, sort_keys=False)
    with in_empty_folder() as folder:
        (folder / "spec.yaml").write_text(text, encoding="utf-8")
        accepted = CliRunner().invoke(app, ["check", "spec.yaml"]).exit_code == 0
        result = run_build(text.encode("utf-8"), "build: generated specs")
    assert result.exit_code == (0 if accepted else 2), f"check {'accepts' if accepted else 'refuses'}:\n{text}"
