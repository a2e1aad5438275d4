"""Differential fuzzing of the two YAML parsers: libyaml's C parser (the fast path) and PyYAML's pure-Python one.

On every damaged spec (byte-level and tree-level mutants of the suite's specs) both must give the same values,
the same marks for every key and value, and the same diagnostics, or refuse with the same error.
"""

from __future__ import annotations

from typing import Any

import pytest
from fuzz_mutate import byte_mutants, seed_files, seed_trees, tree_mutants
from fuzz_settings import FUZZ, fuzz_examples, record
from hypothesis import given, settings

from layerspec.errors import SpecError
from layerspec.spec import yaml_source
from layerspec.spec.yaml_source import parse_yaml

SEED_BYTES = [p.read_bytes() for p in seed_files()]
SEED_TREES = seed_trees()


def _read(text: str) -> Any:
    try:
        parsed = parse_yaml(text, "spec.yaml")
    except SpecError as exc:
        return ("error", [d.format() for d in exc.diagnostics])
    return (parsed.data, parsed.source.keys, parsed.source.values, [d.format() for d in parsed.errors])


def _compare(text: str, test: str) -> None:
    fast = _read(text)
    pure_loader, yaml_source._C_LOADER = yaml_source._C_LOADER, None
    try:
        pure = _read(text)
    finally:
        yaml_source._C_LOADER = pure_loader
    assert fast == pure, repr(text[:2000])
    record(test, "both refuse" if fast[0] == "error" else "both read")


@pytest.mark.skipif(yaml_source._C_LOADER is None, reason="PyYAML without libyaml: one parser only")
@settings(FUZZ, max_examples=fuzz_examples(1.0, minimum=50))
@given(data=byte_mutants(SEED_BYTES))
def test_parsers_agree_on_byte_mutants(data: bytes) -> None:
    _compare(data.decode("utf-8", errors="replace"), "yaml parsers: byte-level mutants")


@pytest.mark.skipif(yaml_source._C_LOADER is None, reason="PyYAML without libyaml: one parser only")
@settings(FUZZ, max_examples=fuzz_examples(1.0, minimum=50))
@given(text=tree_mutants(SEED_TREES))
def test_parsers_agree_on_tree_mutants(text: str) -> None:
    _compare(text, "yaml parsers: tree-level mutants")
