"""Messages for a mistake in an initializer or regularizer written as a mapping (`{type: variance_scaling, ...}`).

The mapping's alternatives are chosen by its `type`, so pydantic reports an unknown or missing `type` against the
whole union and an unknown key against the class it picked; these say which ids and arguments are meant instead.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from layerspec.layers.objects import BY_TYPE, KerasObjectSpec
from layerspec.spec.yaml_source import SourcePath

SEED_HINT = "a spec seeds every weight with train.seed, so an initializer takes no seed of its own"


def members(annotation: Any) -> list[type[KerasObjectSpec]]:
    """The mapping classes a field's annotation accepts (none for a field that takes no initializer)."""
    if isinstance(annotation, type) and issubclass(annotation, KerasObjectSpec):
        return [annotation]
    return [m for argument in typing.get_args(annotation) for m in members(argument)]


def object_diagnostic(
    error: ErrorDetails, path: SourcePath, model: type[BaseModel] | None
) -> tuple[SourcePath, str, bool] | None:
    """(where, message, whether it points at a key) for an error inside an initializer or regularizer mapping;
    None for any other error."""
    kind, loc = error["type"], tuple(error["loc"])
    if kind == "extra_forbidden" and len(loc) >= 2 and isinstance(loc[-2], str) and loc[-2] in BY_TYPE:
        return path, _unknown_argument(BY_TYPE[loc[-2]], str(loc[-1])), True
    if kind not in ("union_tag_invalid", "union_tag_not_found") or model is None or not path:
        return None
    info = model.model_fields.get(str(path[-1]))
    choices = members(info.annotation) if info is not None else []
    if not choices:
        return None
    ids = ", ".join(c.type_id() for c in choices)
    what = "a regularizer" if choices[0].keras_module == "regularizers" else "an initializer"
    value = error.get("input")
    if kind == "union_tag_invalid" and isinstance(value, dict):
        from layerspec.spec.diagnostics import did_you_mean

        name = str(value.get("type"))
        if name in _ids(info.annotation if info is not None else None):
            return (
                (*path, "type"),
                f"`{path[-1]}`: {name!r} takes no arguments: write the id alone (`{path[-1]}: {name}`)",
                False,
            )
        hint = did_you_mean(name, [c.type_id() for c in choices])
        return (
            (*path, "type"),
            f"`{path[-1]}`: unknown {what.split()[-1]} type {name!r}{hint} "
            f"(with arguments: {ids}; or a string id alone)",
            False,
        )
    return path, f"`{path[-1]}`: {what} written as a mapping needs a `type`: one of {ids}", False


def _ids(annotation: Any) -> list[str]:
    """The string ids an annotation accepts (its Literal values)."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return [i for argument in typing.get_args(annotation) for i in _ids(argument)]


def _unknown_argument(cls: type[KerasObjectSpec], key: str) -> str:
    from layerspec.spec.diagnostics import did_you_mean

    allowed = [name for name in cls.model_fields if name != "type"]
    if key == "seed":
        return f"unknown argument 'seed' for {cls.type_id()}: {SEED_HINT} (allowed: {', '.join(allowed)})"
    listing = ", ".join(allowed) or "none"
    return f"unknown argument {key!r} for {cls.type_id()}{did_you_mean(key, allowed)} (allowed: {listing})"
