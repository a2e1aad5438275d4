"""Long chains of layers: `check` accepts up to MAX_MODEL_DEPTH in a row and refuses deeper with the limit, `build`
works past Python's default recursion limit, and a RecursionError anywhere is exit 2 with a message, never 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer

from layerspec.cli.app import handle_errors
from layerspec.graph import MAX_MODEL_DEPTH


def chain(tmp_path: Path, count: int, layer: str = "{type: Dense, units: 4}") -> Path:
    spec = tmp_path / f"chain_{count}.yaml"
    spec.write_text("name: chain\ninput: {shape: [4]}\nlayers:\n" + f"  - {layer}\n" * count, encoding="utf-8")
    return spec


@pytest.mark.parametrize("count", [1_000, MAX_MODEL_DEPTH])
def test_long_chains_check(cli: Callable[..., Any], tmp_path: Path, count: int) -> None:
    result = cli("check", str(chain(tmp_path, count)))
    assert result.exit_code == 0, result.stderr
    assert f"Total params: {count * 20:,}" in result.stdout


@pytest.mark.parametrize("count", [MAX_MODEL_DEPTH + 1, 20_000])
def test_deeper_chains_are_refused_with_the_limit(cli: Callable[..., Any], tmp_path: Path, count: int) -> None:
    spec = chain(tmp_path, count, "{type: Activation, activation: relu}")
    result = cli("check", str(spec))
    assert result.exit_code == 2, result.output
    # One error, at the first layer past the limit (line 4 holds layers[0]).
    assert result.stderr.splitlines() == [
        f"{spec}:{MAX_MODEL_DEPTH + 4}:5: error: layers[{MAX_MODEL_DEPTH}] (activation_{MAX_MODEL_DEPTH}) is layer "
        f"{MAX_MODEL_DEPTH + 1:,} on a path from an input: the model is {count:,} layers deep, and at most "
        f"{MAX_MODEL_DEPTH:,} layers in a row are supported (Keras builds, saves and loads a model recursively, "
        "layer by layer): make the model shallower"
    ]


def test_depth_is_the_longest_path_not_the_layer_count(cli: Callable[..., Any], tmp_path: Path) -> None:
    """Two branches of 3,000 layers side by side: 6,000 layers, but 3,001 deep."""
    branch = "  - {type: ReLU}\n" * 2999
    spec = tmp_path / "wide.yaml"
    spec.write_text(
        "name: wide\ninput: {shape: [4]}\nlayers:\n"
        f"  - {{type: ReLU, name: a, inputs: input}}\n{branch}  - {{type: ReLU, name: a_end}}\n"
        f"  - {{type: ReLU, name: b, inputs: input}}\n{branch}  - {{type: ReLU, name: b_end}}\n"
        "  - {type: Add, inputs: [a_end, b_end]}\n",
        encoding="utf-8",
    )
    result = cli("check", str(spec))
    assert result.exit_code == 0, result.stderr


@pytest.mark.keras
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_chain_past_pythons_default_recursion_limit_builds(cli: Callable[..., Any], tmp_path: Path) -> None:
    """Keras recursed out at about 975 layers in a row with Python's default limit of 1,000."""
    spec = chain(tmp_path, 1_200, "{type: Activation, activation: relu}")
    result = cli("build", str(spec), "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "run" / "model.keras").is_file()


def test_a_recursion_error_is_exit_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    def endless(depth: int) -> int:
        return endless(depth + 1)

    @handle_errors
    def command() -> int:
        return endless(0)

    with pytest.raises(typer.Exit) as caught:
        command()
    assert caught.value.exit_code == 2
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == 1
    assert printed[0].startswith("layerspec: error: the model or spec is nested too deeply")
