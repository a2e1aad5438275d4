"""libyaml's C parser and PyYAML's pure-Python one give the same values, marks and errors for every spec.

The fast path (yaml_source._C_LOADER) is only trusted because of this: each YAML file of the suite (good, bad,
hostile) and a few documents where the two parsers could differ are read both ways, and what comes out (the
values, every key's and value's mark, every diagnostic, or the error raised) must be the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from layerspec.errors import SpecError
from layerspec.spec import yaml_source
from layerspec.spec.yaml_source import parse_yaml

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "tests" / "cases").rglob("*.yaml")) + sorted((ROOT / "specs").glob("*.yaml"))
# Corners where libyaml and the pure parser might part: control characters, tabs, deep nesting, a second
# document, a duplicate anchor, an undefined alias, odd indentation, non-ASCII before a mark, CRLF line ends.
TEXTS = [
    "name: a\x07b\n",
    "name:\tx\nlayers: []\n",
    "a: " + "[" * 120 + "]" * 120 + "\n",
    "a: " + "[" * 1200 + "]" * 1200 + "\n",
    "name: x\n---\nname: y\n",
    "a: &x 1\nb: &x 2\nc: *x\n",
    "a: *missing\n",
    "a:\n  - b\n   - c\n",
    "name: é\nlayers:\n  - {type: Dense, units: 3, units: 4}\n",
    "name: x\r\nlayers:\r\n  - type: ReLU\r\n",
    "name: 'unterminated\n",
    "a: !!python/object:os.system x\nb: !!binary aGk=\n",
    "a: {b: 1\n",
    "? [a, b]\n: c\n",
    "a: 0x1F\nb: 1e-3\nc: .inf\nd: off\ne: ~\nf: 007\n",
    "a: [b:c, d]\n",
    "a: {b:c}\n",
    "a: b: c\n",
    "a: x:y:z\n",
    "%YAML 1.2\n---\na: 1\n",
    "%YAML 2.0\n---\na: 1\n",
    "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "a: 1\n...\n",
    "a: |\n  text\n   more\nb: >-\n  folded\n  line\n",
    'a: "esc \\x41 \\u00e9 \\q"\n',
    "a: 'it''s'\nb: \"\\\n  x\"\n",
    "- a\n- b\n",
    "a:\n- b\n- c\n",
    "\ufeffname: x\n",
    "a: \ufeff\n",
    "a: \u2028b\n",
    "a: x\x85y\n",
    "k" * 1100 + ": 1\n",
    "a: b\n  c: d\n",
    "[a, b]: c\n",
    "a: !!str 1\nb: !!int '2'\n",
    "a: &a [1, 2]\nb: *a\n",
    "a: @x\n",
    "a: `x\n",
    "a: {momentum: 0? .999, b: 1}\n",
    "a: [x?y, z]\n",
    "|#",
    "a: >-#\n  text\n",
    "",
    "# only a comment\n",
]


def _read(text: str) -> Any:
    try:
        parsed = parse_yaml(text, "spec.yaml")
    except SpecError as exc:
        return ("error", [d.format() for d in exc.diagnostics])
    return (parsed.data, parsed.source.keys, parsed.source.values, [d.format() for d in parsed.errors])


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    fast = _read(text)
    with monkeypatch.context() as patch:
        patch.setattr(yaml_source, "_C_LOADER", None)  # as where PyYAML was built without libyaml
        pure = _read(text)
    return fast, pure


def test_the_fast_loader_is_there() -> None:
    """The environment's PyYAML has libyaml (else every comparison below would compare the pure parser with
    itself, and large specs would check slowly)."""
    assert yaml_source._C_LOADER is not None


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_suites_specs_read_the_same(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_bytes().decode("utf-8", errors="replace")
    fast, pure = _both(text, monkeypatch)
    assert fast == pure


@pytest.mark.parametrize("text", TEXTS)
def test_corner_cases_read_the_same(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, pure = _both(text, monkeypatch)
    assert fast == pure
