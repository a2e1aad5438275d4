"""The differential generator reaches every registered layer type and every kind of spec the format has.

No TensorFlow: only the generator (fuzz_specgen) runs here, so a type that the differential tests could never
compare with Keras (its input rank never drawn, its arguments never valid, a wrapper never given a layer) fails
this test in a second rather than going unnoticed in `make fuzz`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_settings import FUZZ
from fuzz_specgen import MERGES, call_refs, layer_types, specs
from hypothesis import given, settings

from layerspec.check import check_file
from layerspec.errors import SpecError
from layerspec.layers import REGISTRY
from layerspec.layers.base import WRAPPER

Spec = dict[str, Any]
# Types that read several inputs positionally (not a merge of tensors of one shape).
SEVERAL_INPUTS = {
    "Attention",
    "AdditiveAttention",
    "MultiHeadAttention",
    "GroupQueryAttention",
    "Dot",
    "HashedCrossing",
}


def _refs(entry: Spec) -> list[str]:
    refs = entry.get("inputs") or []
    return [refs] if isinstance(refs, str) else list(refs)


def kinds(spec: Spec) -> set[str]:
    """The kinds of spec the issue's format added, as found in one generated spec."""
    found: set[str] = set()
    inputs = [spec["input"]] if "input" in spec else spec["inputs"]
    if any(e.get("dtype", "float32").startswith(("int", "uint")) for e in inputs):
        found.add("integer input")
    for entry in spec["layers"]:
        wrapped = entry.get("layer")
        if isinstance(wrapped, dict) and REGISTRY[entry["type"]].family is WRAPPER:
            found.add(f"wrapper {entry['type']} holding {wrapped['type']}")
        if entry["type"] in SEVERAL_INPUTS and len(_refs(entry)) > 1:
            found.add("several inputs")
        if entry.get("call"):
            found.add("call arguments")
        if call_refs(entry):
            found.add("call argument naming a layer")
        if any("[" in ref for ref in _refs(entry) + call_refs(entry)):
            found.add("a further output read (NAME[i])")
        if entry.get("mask_zero") is True or entry["type"] == "Masking":
            found.add("mask")
        objects = [v for k, v in entry.items() if k.endswith(("_initializer", "_regularizer"))]
        if any(isinstance(v, dict) for v in objects):
            found.add("initializer or regularizer with arguments")
    return found


def accepted(spec: Spec, folder: Path) -> bool:
    """Whether `layerspec check` accepts the spec (static: no TensorFlow)."""
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    try:
        check_file(path)
    except SpecError:
        return False
    return True


def generated(focus: str | None, examples: int, drawn: Drawn, folder: Path) -> None:
    @settings(FUZZ, max_examples=examples)
    @given(spec=specs(focus=focus, max_layers=4) if focus else specs())
    def run(spec: Spec) -> None:
        types = set().union(*(layer_types(entry) for entry in spec["layers"]))
        drawn.types.update(types)
        drawn.kinds.update(kinds(spec))
        if types - set(drawn.accepted) and accepted(spec, folder):  # checked until each type is accepted once
            drawn.accepted.update(types)

    run()


@dataclass
class Drawn:
    types: Counter[str] = field(default_factory=Counter)  # specs containing each type
    accepted: Counter[str] = field(default_factory=Counter)  # ... that check accepts
    kinds: Counter[str] = field(default_factory=Counter)  # specs of each kind (see kinds())


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Drawn:
    """What 15 specs around each registered type and 250 random ones contain, as `make test` draws them; a type
    that none of its 15 put in an accepted spec gets 60 more (the differential tests draw more than 15 too)."""
    found = Drawn()
    folder = tmp_path_factory.mktemp("specs")
    for type_name in sorted(REGISTRY):
        generated(type_name, 15, found, folder)
    generated(None, 250, found, folder)
    for type_name in sorted(set(REGISTRY) - set(found.accepted)):
        generated(type_name, 60, found, folder)
    return found


def test_every_registered_type_is_generated(drawn: Drawn) -> None:
    never = sorted(set(REGISTRY) - set(drawn.types))
    assert not never, f"the differential generator never draws {never} (tests/fuzz/fuzz_specgen.py)"


def test_every_registered_type_is_in_an_accepted_spec(drawn: Drawn) -> None:
    """A type drawn only in specs that check refuses is never compared with Keras (shapes, counts, a run)."""
    never = sorted(set(REGISTRY) - set(drawn.accepted))
    assert not never, f"no generated spec that check accepts holds {never} (tests/fuzz/fuzz_specgen.py)"


@pytest.mark.parametrize(
    "kind",
    [
        "integer input",
        "several inputs",
        "call arguments",
        "call argument naming a layer",
        "a further output read (NAME[i])",
        "mask",
        "initializer or regularizer with arguments",
    ],
)
def test_every_kind_of_spec_is_generated(drawn: Drawn, kind: str) -> None:
    assert drawn.kinds[kind], f"no generated spec has {kind}; seen: {sorted(drawn.kinds)}"


def test_wrappers_hold_generated_layers(drawn: Drawn) -> None:
    """Each wrapper is drawn holding several kinds of layer, not only those its contract examples write."""
    found = drawn.kinds
    for wrapper in sorted(t for t, cls in REGISTRY.items() if cls.family is WRAPPER):
        examples = {e.args["layer"]["type"] for e in REGISTRY[wrapper].examples}
        held = {k.split()[-1] for k in found if k.startswith(f"wrapper {wrapper} holding")}
        assert held - examples, f"{wrapper} only holds the layers of its examples"


def test_merges_are_generated(drawn: Drawn) -> None:
    assert all(drawn.types[t] for t in MERGES)
