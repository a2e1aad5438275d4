"""Initializer and regularizer arguments for the differential generator: a Keras id, or a mapping with arguments
(`{type: variance_scaling, scale: 2.0}`), drawn from what layerspec's schema offers for the field."""

from __future__ import annotations

import types
import typing
from typing import Any

from hypothesis import strategies as st

from layerspec.layers.objects import KerasObjectSpec

Draw = Any
# Values for an argument whose default is 0 (a mean, a constant, an L1 factor), which scaling would leave at 0; none
# negative, as a factor must not be (the generic draws stay within the schema's bounds).
_FROM_ZERO = (0.0, 0.25, 0.001)


class ObjectChoices(typing.NamedTuple):
    ids: list[str]
    mappings: list[type[KerasObjectSpec]]
    optional: bool


def object_choices(annotation: Any) -> ObjectChoices | None:
    """The ids and mapping classes a field takes, or None when it is not an initializer or regularizer field."""
    ids: list[str] = []
    mappings: list[type[KerasObjectSpec]] = []
    optional = False
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    for member in typing.get_args(annotation):
        if typing.get_origin(member) is typing.Annotated:
            member = typing.get_args(member)[0]
        if member is type(None):
            optional = True
        elif typing.get_origin(member) is typing.Literal:
            ids += [str(v) for v in typing.get_args(member)]
        elif isinstance(member, type) and issubclass(member, KerasObjectSpec):
            mappings.append(member)
        else:
            return None
    return ObjectChoices(ids, mappings, optional) if mappings else None


def draw_object(draw: Draw, choices: ObjectChoices) -> Any:
    """None (where allowed), an id, or a mapping whose arguments are each left out or drawn near their default."""
    kind = draw(st.integers(0, 2))
    if kind == 0 and choices.optional:
        return None
    if kind <= 1 and choices.ids:
        return draw(st.sampled_from(choices.ids))
    cls = draw(st.sampled_from(choices.mappings))
    value: dict[str, Any] = {"type": cls.type_id()}
    for name, info in cls.model_fields.items():
        if name == "type" or not draw(st.booleans()):
            continue
        if typing.get_origin(info.annotation) is typing.Literal:
            value[name] = draw(st.sampled_from(typing.get_args(info.annotation)))
        elif isinstance(info.default, float):
            scaled = info.default * draw(st.sampled_from((0.5, 1.0, 2.0)))
            value[name] = scaled if info.default else draw(st.sampled_from(_FROM_ZERO))
    return value
