"""Loading validates with a Spec whose union holds only the spec's layer types (spec_model_for): the same values
and the same errors as the full Spec, whose union holds every registered type."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from layerspec.layers import REGISTRY
from layerspec.spec.models import Spec, spec_model_for


def _spec(*layers: Any) -> dict[str, Any]:
    return {"name": "m", "input": {"shape": [8, 8, 3]}, "layers": list(layers)}


def _errors(model: type[Spec], raw: dict[str, Any]) -> list[Any] | None:
    try:
        model.model_validate(raw)
    except ValidationError as exc:
        return exc.errors(include_url=False)
    return None


BAD = [
    _spec({"type": "Conv2D", "filters": 0, "kernel_size": 3}),
    _spec({"type": "Dense", "units": True}, {"type": "ReLU", "bogus": 1}),
    _spec({"type": "Bidirectional", "layer": {"type": "LSTM", "units": -1}}),
    _spec({"type": "Bidirectional", "layer": {"type": "Nope"}}),
    _spec(),
    # Block and share uses are expanded before validation; left in, they meet their own members as in Spec.
    _spec({"block": "b", "bogus": 1}, {"type": "ReLU"}),
    _spec({"share": "x", "repeat": 2}),
]


@pytest.mark.parametrize("raw", BAD)
def test_narrow_spec_reports_what_the_full_one_does(raw: dict[str, Any]) -> None:
    narrow = spec_model_for(raw["layers"])
    assert narrow is not Spec and issubclass(narrow, Spec)
    errors = _errors(narrow, raw)
    assert errors is not None
    assert errors == _errors(Spec, raw)


def test_narrow_spec_holds_only_the_types_used() -> None:
    narrow = spec_model_for([{"type": "ReLU"}, {"type": "Dense", "units": 2}])
    spec = narrow.model_validate(_spec({"type": "ReLU"}, {"type": "Dense", "units": 2}))
    assert [type(layer) for layer in spec.layers] == [REGISTRY["ReLU"], REGISTRY["Dense"]]
    full = Spec.model_validate(_spec({"type": "ReLU"}, {"type": "Dense", "units": 2}))
    assert spec.model_dump() == full.model_dump()
    # Its schema names only those types, besides block and share uses.
    schema = str(narrow.model_json_schema())
    assert "Dense" in schema and "Conv2D" not in schema


@pytest.mark.parametrize(
    "layers", [None, "ReLU", [{"type": "Nope"}], [{"units": 3}], ["ReLU"], [{"type": 3}], [{"type": "ReLU"}, 1]]
)
def test_anything_the_narrow_union_could_answer_differently_goes_to_the_full_spec(layers: Any) -> None:
    """An unknown or missing tag's message lists every tag; it must come from the full union."""
    assert spec_model_for(layers) is Spec
