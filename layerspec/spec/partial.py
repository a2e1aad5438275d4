"""What can still be checked in a spec the schema refused: the sections and layer entries that did validate.

A spec with a schema error has no validated `Spec`, yet its graph (names, references, cycles), its shapes and its
rules can often still be checked, and reporting those errors in the same run saves the user a round trip per
stage. This module builds that partial spec: every top-level section that validated on its own, and every layer
entry that did, with an `Unchecked` stand-in for each refused entry (its readers are skipped, not reported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from layerspec.layers import REGISTRY, LayerSpec
from layerspec.layers.base import NAME_PATTERN
from layerspec.spec.data import DataSpec
from layerspec.spec.models import InputSpec, Spec
from layerspec.spec.train import TrainSpec

_NAME = re.compile(NAME_PATTERN)
# Sections the graph stage cannot go without: if one of them is refused, only the settings rules run.
GRAPH_SECTIONS = frozenset({"input", "inputs", "outputs", "layers"})


class Unchecked(LayerSpec):
    """Stands in for a layer entry the schema refused: it keeps the entry's name and inputs, when those are
    valid, so the other layers' references still resolve. Never inferred or built."""

    min_inputs: ClassVar[int] = 0
    max_inputs: ClassVar[int | None] = None

    type: str


@dataclass(frozen=True)
class PartialSpec:
    """A spec built from the parts that validated; `refused` names the top-level keys that did not."""

    spec: Spec
    refused: frozenset[str]


def partial_spec(raw: dict[str, Any], exc: ValidationError) -> PartialSpec | None:
    """The parts of `raw` that validated, given the schema's errors; None when nothing useful did."""
    locations = [tuple(error["loc"]) for error in exc.errors(include_url=False)]
    if any(loc in ((), ("layers",)) for loc in locations) or not isinstance(raw.get("layers"), list):
        return None  # the spec as a whole, or its list of layers, is what is wrong: nothing to go on with
    # A refused layer entry gets a stand-in, so `layers` itself stays usable.
    refused = frozenset(str(loc[0]) for loc in locations) - {"layers"}
    bad_entries = {loc[1] for loc in locations if loc[0] == "layers" and isinstance(loc[1], int)}
    fields: dict[str, Any] = {
        "name": raw["name"] if "name" not in refused and isinstance(raw.get("name"), str) else "spec",
        "layers": [_entry(e, i in bad_entries) for i, e in enumerate(raw["layers"])],
    }
    for key, model in (("input", InputSpec), ("data", DataSpec), ("train", TrainSpec)):
        fields[key] = _valid(model, raw.get(key)) if key not in refused else None
    if "inputs" not in refused and isinstance(raw.get("inputs"), list):
        inputs = [_valid(InputSpec, item) for item in raw["inputs"]]
        fields["inputs"] = inputs if None not in inputs else None
    if "outputs" not in refused and raw.get("outputs") is not None:
        fields["outputs"] = raw["outputs"]
    return PartialSpec(Spec.model_construct(**fields), refused)


def _valid(model: type[BaseModel], value: Any) -> Any:
    """`value` as `model`, or None (absent); it passed inside the spec, so it passes alone too."""
    if value is None:
        return None
    try:
        return model.model_validate(value)
    except ValidationError:
        return None


def _entry(entry: Any, refused: bool) -> LayerSpec:
    kind = entry.get("type") if isinstance(entry, dict) else None
    if not refused and isinstance(kind, str) and kind in REGISTRY:
        try:
            return REGISTRY[kind].model_validate(entry)
        except ValidationError:
            pass
    return _stand_in(entry, kind)


def _stand_in(entry: Any, kind: Any) -> Unchecked:
    """An entry of a registered type keeps its name (written, or generated from its type as the schema's
    messages name it) and its inputs, where those are valid."""
    if not isinstance(entry, dict) or not isinstance(kind, str) or kind not in REGISTRY:
        # Of an entry of unknown type nothing is trusted: its references are not checked either.
        return Unchecked.model_construct(type="Unchecked", name=None, inputs=None)
    name, inputs = entry.get("name"), entry.get("inputs")
    valid_inputs = isinstance(inputs, str) or (isinstance(inputs, list) and all(isinstance(i, str) for i in inputs))
    return Unchecked.model_construct(
        type=kind,
        name=name if isinstance(name, str) and _NAME.match(name) else None,
        inputs=inputs if valid_inputs else None,
    )
