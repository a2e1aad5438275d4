"""`layerspec check` and `layerspec schema` from the command line: output contracts, golden table, no TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from layerspec.check import check_file

REPO = Path(__file__).resolve().parent.parent
SIGNS = REPO / "specs" / "signs.yaml"
GOLDEN = Path(__file__).parent / "cases" / "golden"
SPECS = sorted((REPO / "specs").glob("*.yaml"))
GOOD = sorted((Path(__file__).parent / "cases" / "good").glob("*.yaml"))

TOP_KEYS = {
    "name",
    "params",
    "trainable_params",
    "non_trainable_params",
    "macs",
    "inputs",
    "outputs",
    "layers",
    "memory",
}
LAYER_KEYS = {
    "name",
    "type",
    "inputs",
    "output_shape",
    "output_shapes",
    "params",
    "trainable_params",
    "macs",
    "receptive_field",
    "effective_stride",
}


def test_check_never_imports_tensorflow() -> None:
    """The whole CLI is imported (every command module) and check runs, yet TensorFlow and Keras stay out."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from layerspec.cli import app\n"
        f"result = CliRunner().invoke(app, ['check', {str(SIGNS)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        f"result = CliRunner().invoke(app, ['check', '--json', {str(SIGNS)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_check_json_contract(cli: Callable[..., Any]) -> None:
    result = cli("check", "--json", str(SIGNS))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == TOP_KEYS
    assert (payload["params"], payload["trainable_params"], payload["non_trainable_params"]) == (170438, 170246, 192)
    assert payload["inputs"] == [{"name": "input", "shape": [None, 64, 64, 3]}]
    assert payload["outputs"] == [{"name": "fc", "shape": [None, 6]}]
    for layer in payload["layers"]:
        assert set(layer) == LAYER_KEYS
        assert layer["output_shape"][0] is None
        assert layer["output_shapes"] == [layer["output_shape"]]  # one output each here
    conv0 = next(layer for layer in payload["layers"] if layer["name"] == "conv0")
    assert conv0 == {
        "name": "conv0",
        "type": "Conv2D",
        "inputs": ["zero_padding2d"],
        "output_shape": [None, 64, 64, 32],
        "output_shapes": [[None, 64, 64, 32]],
        "params": 7 * 7 * 3 * 32 + 32,
        "trainable_params": 7 * 7 * 3 * 32 + 32,
        "macs": 64 * 64 * 32 * 7 * 7 * 3,
        "receptive_field": [7, 7],
        "effective_stride": [1, 1],
    }


@pytest.mark.parametrize("spec", [SIGNS, *GOOD], ids=lambda p: p.stem)
def test_layer_figures_add_up_to_totals(spec: Path) -> None:
    payload = check_file(spec).summary.to_json()
    layers = payload["layers"]
    assert sum(layer["params"] for layer in layers) == payload["params"]
    assert sum(layer["trainable_params"] for layer in layers) == payload["trainable_params"]
    assert payload["params"] - payload["trainable_params"] == payload["non_trainable_params"]
    assert sum(layer["macs"] for layer in layers) == payload["macs"]
    assert all(0 <= layer["trainable_params"] <= layer["params"] for layer in layers)


def test_billion_unit_dense_checks(cli: Callable[..., Any]) -> None:
    """10**9 units: shapes and counts only; nothing of that size is ever allocated."""
    result = cli("check", "--json", str(Path(__file__).parent / "cases" / "good" / "huge_dense.yaml"))
    assert result.exit_code == 0, result.output
    dense = json.loads(result.stdout)["layers"][1]
    assert dense["output_shape"] == [None, 10**9]
    assert dense["params"] == 16 * 10**9 + 10**9


def test_check_text_table_golden(cli: Callable[..., Any]) -> None:
    """The table for specs/signs.yaml, byte for byte. Regenerate with LAYERSPEC_REGEN=1 after a deliberate change."""
    result = cli("check", str(SIGNS))
    assert result.exit_code == 0, result.output
    golden = GOLDEN / "signs_check.txt"
    if os.environ.get("LAYERSPEC_REGEN") == "1":
        golden.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == golden.read_text(encoding="utf-8")


def test_check_success_is_quiet_and_writes_nothing(cli: Callable[..., Any], tmp_path: Path) -> None:
    spec = tmp_path / "signs.yaml"
    spec.write_bytes(SIGNS.read_bytes())
    result = cli("check", str(spec))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signs.yaml"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_spec_in_specs_checks(cli: Callable[..., Any], spec: Path) -> None:
    result = cli("check", str(spec))
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    """The schema exactly as `layerspec schema` prints it (printed once: validating against it is the slow part)."""
    from typer.testing import CliRunner

    from layerspec.cli import app

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("spec", ["signs", "multi_input", "residual"])
def test_schema_describes_the_specs(validator: jsonschema.Draft202012Validator, spec: str) -> None:
    path = SIGNS if spec == "signs" else Path(__file__).parent / "cases" / "good" / f"{spec}.yaml"
    validator.validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def test_schema_lists_every_layer_type(validator: jsonschema.Draft202012Validator) -> None:
    from layerspec.layers import REGISTRY

    entries = validator.schema["properties"]["layers"]["items"]["oneOf"]
    assert {e["$ref"].rsplit("/", 1)[-1] for e in entries} == {*REGISTRY, "BlockUse", "ShareUse"}


@pytest.mark.parametrize("optimizer", ["sgd", {"type": "sgd", "momentum": 0.9}], ids=["name", "object"])
def test_schema_takes_the_optimizer_by_name_or_as_an_object(
    validator: jsonschema.Draft202012Validator, optimizer: Any, tmp_path: Path
) -> None:
    """`optimizer: sgd` checks as `{type: sgd}` does, so the schema an editor reads must accept both."""
    spec = yaml.safe_load(SIGNS.read_text(encoding="utf-8"))
    spec["train"] = {**spec.get("train", {}), "optimizer": optimizer}
    validator.validate(spec)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert check_file(path).loaded.spec.train.optimizer.type == "sgd"  # and check accepts it


@pytest.mark.parametrize(
    "change",
    [
        {"train": {"optimizer": "adagrad"}},
        {"train": {"optimizer": {"type": "sgd", "momentom": 0.9}}},
        {"layers": [{"type": "Conv2D", "filter": 8, "kernel_size": 3}]},
        {"layers": [{"type": "Dense", "units": True}]},
        {"layers": [{"type": "Lambda"}]},
        {"colour": "red"},
    ],
    ids=["unknown-optimizer", "optimizer-typo", "unknown-argument", "boolean-units", "lambda", "unknown-top-level-key"],
)
def test_schema_rejects_what_check_rejects(validator: jsonschema.Draft202012Validator, change: dict[str, Any]) -> None:
    spec = {**yaml.safe_load(SIGNS.read_text(encoding="utf-8")), **change}
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(spec)


def test_check_in_process_resumes_the_garbage_collector(cli: Callable[..., Any], repo_root: Path) -> None:
    """`check` pauses the cyclic collector; called in process (not as the command-line process, which exits right
    after) it must turn it back on, whether the spec checks or not."""
    import gc

    from layerspec.spec.yaml_loaders import collection_paused

    assert gc.isenabled()
    assert cli("check", str(repo_root / "specs" / "signs.yaml")).exit_code == 0
    assert gc.isenabled()
    assert cli("check", str(repo_root / "tests" / "cases" / "bad" / "cycle.yaml")).exit_code == 2
    assert gc.isenabled()
    try:
        with collection_paused(resume=False):
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_reader_that_closes_the_output_early_ends_the_command_quietly(tmp_path: Path) -> None:
    """`layerspec check big.yaml | head`: the table is larger than a pipe holds, and the reader leaves after a line."""
    layers = "\n".join("  - type: ReLU" for _ in range(3000))
    spec = tmp_path / "big.yaml"
    spec.write_text(f"name: big\ninput: {{shape: [8]}}\nlayers:\n{layers}\n", encoding="utf-8")
    command = [sys.executable, "-c", "from layerspec.cli import main; main()", "check", str(spec)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.read(64).startswith(b'Model: "big"')
        process.stdout.close()
        errors = process.stderr.read().decode()
        code = process.wait(timeout=120)
    assert (code, errors) == (0, "")
