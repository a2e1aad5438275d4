"""`--set KEY=VALUE`: values from the command line, validated by the spec's schema as strictly as the file's.

Everything here runs `layerspec check` (no TensorFlow), except the last test, which builds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from layerspec.errors import SpecError
from layerspec.spec import load_spec

SPEC = """\
name: small
input:
  shape: [32, 32, 3]
layers:
  - {type: Conv2D, name: conv0, filters: 8, kernel_size: 3}
  - {type: Flatten}
  - {type: Dense, name: fc, units: 4, activation: softmax}
data:
  labels: one_hot
  validation_split: 0.1
train:
  optimizer:
    type: adam
    learning_rate: 0.001
  batch_size: 16
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_values_reach_the_spec(spec: Path) -> None:
    loaded = load_spec(
        spec,
        [
            "train.optimizer.learning_rate=0.01",
            "train.batch_size=32",
            "data.validation_split=0.2",
            "layers.conv0.filters=16",
            "layers[2].units=10",
            "input.shape=[64, 64, 3]",
            "train.epochs=2",
        ],
    )
    assert loaded.spec.train is not None and loaded.spec.data is not None
    assert loaded.spec.train.optimizer.learning_rate == 0.01
    assert loaded.spec.train.batch_size == 32 and loaded.spec.train.epochs == 2
    assert loaded.spec.data.validation_split == 0.2
    layers = loaded.spec.layers
    assert layers[0].model_dump()["filters"] == 16 and layers[2].model_dump()["units"] == 10
    assert list(loaded.spec.input_specs()[0].shape) == [64, 64, 3]


def test_a_flow_mapping_replaces_a_section_and_a_later_override_wins(spec: Path) -> None:
    loaded = load_spec(spec, ["train.optimizer={type: sgd, learning_rate: 0.5}", "train.optimizer.momentum=0.9"])
    assert loaded.spec.train is not None
    optimizer = loaded.spec.train.optimizer
    assert (optimizer.type, optimizer.learning_rate, optimizer.momentum) == ("sgd", 0.5, 0.9)


def test_a_missing_section_is_created(tmp_path: Path) -> None:
    path = tmp_path / "bare.yaml"
    path.write_text(SPEC.split("data:")[0], encoding="utf-8")
    loaded = load_spec(path, ["train.batch_size=8"])
    assert loaded.spec.train is not None and loaded.spec.train.batch_size == 8


def test_overrides_change_the_spec_identity(spec: Path) -> None:
    plain, changed = load_spec(spec), load_spec(spec, ["train.batch_size=32"])
    assert plain.sha256 != changed.sha256
    assert changed.sha256 == load_spec(spec, ["train.batch_size=32"]).sha256
    assert changed.overrides == ("train.batch_size=32",)


BAD = [
    (
        "train.optimizer.learning_rat=0.01",
        "--set train.optimizer.learning_rat=0.01: error: unknown key 'learning_rat'; did you mean 'learning_rate'?",
    ),
    ("train.batch_size=abc", "--set train.batch_size=abc: error: `train.batch_size` must be a valid integer"),
    ("train.batch_size='32'", "--set train.batch_size='32': error: `train.batch_size` must be a valid integer"),
    ("train.epochs=1.5", "--set train.epochs=1.5: error: `train.epochs` must be a valid integer; received 1.5"),
    ("layers.conv0.filters=8.0", "--set layers.conv0.filters=8.0: error: layers[0] (conv0): `filters` must be"),
    ("layers.conv9.filters=3", "no entry of `layers` is named 'conv9'; did you mean 'conv0'?"),
    ("layers[7].units=3", "--set layers[7].units=3: error: `layers` has entries [0] to [2]: there is no [7]"),
    ("layers.fc.activaton=relu", "unknown argument 'activaton' for Dense; did you mean 'activation'?"),
    ("train.batch_size.x=1", "`train.batch_size` is an integer (16), not a mapping: it has no key 'x'"),
    ("input.shape={a", "--set input.shape={a: error: the value is not a YAML scalar or flow collection"),
    ("input.shape=!!python/object:os.system x", "the YAML tag 'tag:yaml.org,2002:python/object:os.system'"),
    ("a..b=1", "--set a..b=1: error: 'a..b' is not a key"),
    ("noequals", "--set noequals: error: expected KEY=VALUE"),
    ("=3", "--set =3: error: expected KEY=VALUE"),
    ("stem.with.filters=3", "--set stem.with.filters=3: error: unknown key 'stem'"),
    ("data.validation_split=2", "--set data.validation_split=2: error: `data.validation_split` must be"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[o for o, _ in BAD])
def test_a_bad_override_is_named_and_exits_2(cli: Callable[..., Any], spec: Path, override: str, message: str) -> None:
    result = cli("check", str(spec), "--set", override)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_other_errors_still_point_at_their_line(cli: Callable[..., Any], spec: Path) -> None:
    spec.write_text(SPEC.replace("units: 4", "units: four"), encoding="utf-8")
    result = cli("check", str(spec), "--set", "train.batch_size=zero")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("--set train.batch_size=zero: error:")
    assert lines[1].startswith(f"{spec}:7:")  # the file's own mistake, at its line


def test_check_json_reflects_the_override(cli: Callable[..., Any], spec: Path) -> None:
    result = cli("check", str(spec), "--json", "--set", "layers.fc.units=10")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["outputs"][0]["shape"] == [None, 10] or summary["layers"][-1]["output_shape"][-1] == 10


@pytest.mark.keras
def test_build_records_the_overrides_and_a_run_reloads_them(
    cli: Callable[..., Any], spec: Path, tmp_path: Path
) -> None:
    from layerspec.data import load_run_spec

    out = tmp_path / "run"
    result = cli("build", str(spec), "--out", str(out), "--json", "--set", "layers.conv0.filters=5")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "build.json").read_text())
    assert record["overrides"] == ["layers.conv0.filters=5"]
    assert (out / "spec.yaml").read_text() == SPEC  # the file as written; the override is in build.json
    loaded = load_run_spec(out)
    assert loaded.spec.layers[0].model_dump()["filters"] == 5 and loaded.sha256 == record["spec_sha256"]


@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.builds(
                lambda key, value: f"{key}={value}",
                st.sampled_from(["train.batch_size", "layers.conv0.filters", "layers[2].units", "input.shape", "a"]),
                st.text(max_size=20),
            ),
        ),
        max_size=4,
    )
)
@settings(max_examples=150, deadline=None, derandomize=True)
def test_any_override_loads_or_is_a_spec_error(overrides: list[str]) -> None:
    """Whatever is given to --set, loading ends in a spec or in SpecError diagnostics, never another exception."""
    path = Path(__file__).parent / "cases" / "good" / "sequential.yaml"
    try:
        load_spec(path, overrides)
    except SpecError as exc:
        assert exc.diagnostics
