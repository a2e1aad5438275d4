"""Regression cases found by the fuzz tests: tests/cases/regress/*.yaml, each with its expected outcome.

A case starts with comment lines `# key: value`:
  regress: what was found (free text)
  outcome: ok | error          -- what `layerspec check` must do (exit 0, or exit 2 with a clean message)
  message: TEXT                -- (error) a piece of the expected error message
  keras: builds | refuses      -- (optional) Keras must agree: the differential comparison runs on the case
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from layerspec.cli import app

CASES = sorted((Path(__file__).parents[1] / "cases" / "regress").glob("*.yaml"))


def header(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("# "):
            break
        key, sep, value = line[2:].partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def test_there_are_regression_cases() -> None:
    assert CASES, "tests/cases/regress/ holds no cases"
    for case in CASES:
        assert header(case).get("outcome") in ("ok", "error"), f"{case.name}: no `# outcome: ok|error` line"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_check_outcome(case: Path) -> None:
    expected = header(case)
    result = CliRunner().invoke(app, ["check", str(case)])
    output = result.output
    assert "Traceback" not in output and "internal error" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), output
    if expected["outcome"] == "ok":
        assert result.exit_code == 0, output
    else:
        assert result.exit_code == int(expected.get("exit", "2")), output
        assert f"{case}:" in output, f"the error does not name the file:\n{output}"
        assert expected.get("message", "") in output, output


KERAS_CASES = [c for c in CASES if "keras" in header(c)]


@pytest.mark.keras
@pytest.mark.parametrize("case", KERAS_CASES, ids=[c.stem for c in KERAS_CASES])
def test_keras_outcome(case: Path) -> None:
    from fuzz_oracle import KerasRefused, keras_figures
    from test_differential import compare

    spec: dict[str, Any] = yaml.safe_load(case.read_text(encoding="utf-8"))
    if header(case)["keras"] == "builds":
        assert compare(spec).startswith("both accept")
    else:
        with pytest.raises(KerasRefused):
            keras_figures(spec)
