"""The folder of spec cases: every bad spec gets exactly its expected errors, every good spec checks.

`tests/cases/bad/NAME.expect` lists the errors `layerspec check tests/cases/bad/NAME.yaml` must print, one per
line as `LINE:COL: FRAGMENT` (or `-: FRAGMENT` for an error with no position); the spec may be missing on
purpose. Each printed error line must match one expected line, in order, and nothing else may be printed.
`tests/cases/warn/NAME.expect` lists the warnings of a spec that checks (exit 0) in the same way.
Every rule of `layerspec.rules` has its case, `rule_NAME` in bad/ (or warn/ for a rule that only warns).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from layerspec.rules import RULES

CASES = Path(__file__).parent / "cases"
BAD = sorted((CASES / "bad").glob("*.expect"))
GOOD = sorted((CASES / "good").glob("*.yaml"))
WARN = sorted((CASES / "warn").glob("*.expect"))
_EXPECT = re.compile(r"^(?:(\d+):(\d+)|-): (.+)$")


@dataclass(frozen=True)
class Expected:
    line: int
    col: int
    fragment: str

    def prefix(self, path: str, severity: str = "error") -> str:
        return f"{path}:{self.line}:{self.col}: {severity}: " if self.line else f"{path}: {severity}: "


def read_expect(file: Path) -> list[Expected]:
    expected = []
    for text in file.read_text(encoding="utf-8").splitlines():
        if not text.strip() or text.startswith("#"):
            continue
        match = _EXPECT.match(text)
        assert match, f"{file}: malformed expectation line {text!r}"
        line, col, fragment = match.groups()
        expected.append(Expected(int(line or 0), int(col or 0), fragment))
    return expected


def relative(path: Path) -> str:
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


@pytest.fixture(autouse=True)
def _run_from_repo(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)


@pytest.mark.parametrize("expect_file", BAD, ids=[f.stem for f in BAD])
def test_bad_spec(cli: Callable[..., Any], expect_file: Path) -> None:
    spec = relative(expect_file.with_suffix(".yaml"))
    expected = read_expect(expect_file)
    assert expected, f"{expect_file} expects no error"
    result = cli("check", spec)
    assert result.exit_code == 2, result.output
    assert result.stdout == "", "a bad spec prints nothing on stdout"
    assert "Traceback" not in result.output
    assert_lines(result.stderr, expected, spec, "error")


def assert_lines(stderr: str, expected: list[Expected], spec: str, severity: str) -> None:
    printed = stderr.splitlines()
    assert len(printed) == len(expected), "\n".join(printed)
    for line, want in zip(printed, expected, strict=True):
        prefix = want.prefix(spec, severity)
        assert line.startswith(prefix), f"{line!r} should start with {prefix!r}"
        assert want.fragment in line, f"{line!r} should contain {want.fragment!r}"


@pytest.mark.parametrize("expect_file", WARN, ids=[f.stem for f in WARN])
def test_warned_spec(cli: Callable[..., Any], expect_file: Path) -> None:
    """A warning is printed on stderr; the spec still checks (exit 0, the table on stdout)."""
    spec = relative(expect_file.with_suffix(".yaml"))
    expected = read_expect(expect_file)
    assert expected, f"{expect_file} expects no warning"
    result = cli("check", spec)
    assert result.exit_code == 0, result.output
    assert "Total params:" in result.stdout
    assert_lines(result.stderr, expected, spec, "warning")


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_rule_has_a_case(name: str) -> None:
    cases = {f.stem for f in BAD + WARN}
    assert f"rule_{name}" in cases, f"rule {name} has no case: add tests/cases/bad/rule_{name}.yaml and .expect"


def test_bad_cases_cover_the_issue() -> None:
    """The rules of issue 2's "Errors" section each have a case (names are the contract here)."""
    wanted = {
        "yaml_syntax", "root_list", "empty", "non_utf8", "missing_file", "unknown_type", "unknown_argument",
        "units_bool", "padding_off", "not_finite", "negative_filters", "dropout_rate", "zero_dims", "huge_int",
        "python_tag", "billion_laughs", "duplicate_keys", "unknown_reference", "duplicate_names", "cycle",
        "merge_incompatible", "kernel_too_large", "pool_too_large", "reshape_impossible", "expect_mismatch",
        "lambda", "several_errors",
    }  # fmt: skip
    assert wanted <= {f.stem for f in BAD}


def test_bad_cases_cover_the_static_rules() -> None:
    """Values that make training meaningless, and errors of several stages reported in one run."""
    wanted = {
        "scale_too_small", "scale_too_large", "zoom_whole_image", "missing_input_with_others",
        "schema_and_graph_errors",
    }  # fmt: skip
    assert wanted <= {f.stem for f in BAD}


@pytest.mark.parametrize("spec", GOOD, ids=[f.stem for f in GOOD])
def test_good_spec(cli: Callable[..., Any], spec: Path) -> None:
    result = cli("check", relative(spec))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "Total params:" in result.stdout
