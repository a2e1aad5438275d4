"""Broken YAML in plain words: every spec in tests/cases/yaml/ gets exactly its expected lines.

`NAME.expect` lists, as in tests/cases/bad/, the lines `layerspec check NAME.yaml` must print as `LINE:COL: FRAGMENT`
(a note, PyYAML's own words under an error it could not put plainly, has `note:` in its fragment). The same
failures are translated alike whichever loader read them: PyYAML's pure-Python one and libyaml's C one word their
problems differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from layerspec.spec.yaml_errors import yaml_error_diagnostics

CASES = Path(__file__).parent / "cases" / "yaml"
EXPECT = sorted(CASES.glob("*.expect"))
_LINE = re.compile(r"^(\d+):(\d+): (.+)$")


def read_expect(file: Path) -> list[tuple[int, int, str]]:
    lines = [t for t in file.read_text(encoding="utf-8").splitlines() if t.strip() and not t.startswith("#")]
    parsed = [_LINE.match(t) for t in lines]
    assert all(parsed), f"{file}: malformed expectation line"
    return [(int(m[1]), int(m[2]), m[3]) for m in parsed if m]


@pytest.fixture(autouse=True)
def _run_from_repo(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)


def test_the_folder_holds_the_common_mistakes() -> None:
    assert len(EXPECT) >= 15
    assert {f.stem for f in EXPECT} >= {
        "bad_indent", "tab", "missing_colon", "unclosed_bracket", "unclosed_brace", "unclosed_double_quote",
        "template_in_flow_mapping", "second_document",
    }  # fmt: skip


@pytest.mark.parametrize("expect_file", EXPECT, ids=[f.stem for f in EXPECT])
def test_broken_yaml(cli: Callable[..., Any], expect_file: Path) -> None:
    spec = str(expect_file.with_suffix(".yaml").relative_to(Path.cwd()))
    expected = read_expect(expect_file)
    result = cli("check", spec)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    printed = result.stderr.splitlines()
    assert len(printed) == len(expected), result.stderr
    for line, (row, col, fragment) in zip(printed, expected, strict=True):
        assert line.startswith(f"{spec}:{row}:{col}: "), line
        assert fragment in line, f"{line!r} should contain {fragment!r}"
        assert "<block end>" not in line and "<scalar>" not in line, "PyYAML's token names are not for users"


@pytest.mark.parametrize("expect_file", EXPECT, ids=[f.stem for f in EXPECT])
def test_either_loader_gives_the_same_first_line(expect_file: Path) -> None:
    text = expect_file.with_suffix(".yaml").read_text(encoding="utf-8")
    loaders = [yaml.SafeLoader, *([yaml.CSafeLoader] if yaml.__with_libyaml__ else [])]
    firsts = set()
    for loader in loaders:
        with pytest.raises(yaml.MarkedYAMLError) as caught:
            yaml.compose(text, Loader=loader)
        first = yaml_error_diagnostics(caught.value, text, "spec.yaml")[0]
        firsts.add((first.line, first.col, first.message))
    assert len(firsts) == 1, firsts
