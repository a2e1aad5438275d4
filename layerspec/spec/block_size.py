"""How much a spec's block uses would expand to, counted before anything is expanded.

Expansion multiplies: `repeat` nests (a use of a block that repeats a block that repeats ...), and `${param}`
text can double at every level of nesting (`with: {s: "${s}${s}"}`). A few hundred bytes of YAML can therefore
ask for 10**12 layers or a string of terabytes; like the YAML alias guard, this walk refuses such a spec in time
and memory proportional to the file, by counting instead of copying.

Each use site is visited once per path of uses leading to it, not once per copy: a `repeat` multiplies the counts
of what it contains. Every visit adds at least one to the entry count, so the walk itself stops after at most
MAX_EXPANDED visits. Sizes are kept as numbers: a value's size is linear in the sizes of the parameters it
names, and that linear form is computed once per value of the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from layerspec.spec.yaml_source import SourcePath

MAX_NESTING = 8
MAX_REPEAT = 1000  # as BlockUse.repeat allows
MAX_EXPANDED = 100_000  # layers, as Spec.layers allows; also the limit on block uses (copies) expanded
# About 160 bytes for each of MAX_EXPANDED layers: far above any real model's arguments, far below memory trouble.
MAX_EXPANDED_BYTES = 16 * 1024 * 1024
# A parameter value is kept (not just measured) up to this size: enough for any block name or `repeat` count
# written as `${param}`, which change what is expanded; a larger value can be neither (a Name is <= 128 chars).
_KEEP_VALUE = 1024

PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_use(entry: Any) -> bool:
    return isinstance(entry, dict) and "block" in entry and "type" not in entry


def mapping(value: Any) -> dict[str, Any]:
    """`value` if it is a mapping; anything else is reported by schema validation, so treat it as empty here."""
    return value if isinstance(value, dict) else {}


def substitute(value: Any, lookup: Callable[[str, SourcePath], Any], path: SourcePath) -> Any:
    """Replace `${name}` with `lookup(name, path)`: a whole-value reference keeps the parameter's type."""
    if isinstance(value, dict):
        return {k: substitute(v, lookup, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, lookup, (*path, i)) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = PARAM.fullmatch(value)
    if whole:
        return lookup(whole.group(1), path)
    return PARAM.sub(lambda m: str(lookup(m.group(1), path)), value)


class ExpansionTooLarge(Exception):
    """The top-level use at `path` would take the expansion past a limit; `message` says which."""

    def __init__(self, path: SourcePath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class _Linear:
    """The size of a value once substituted: `const` plus `count` times the size of each named parameter."""

    const: int
    refs: tuple[tuple[str, int], ...] = ()

    def size(self, params: dict[str, _Param]) -> int:
        return self.const + sum(count * params[name].size for name, count in self.refs if name in params)

    def literal(self) -> int:
        """The size of the value as written, `${name}` and all (a default is not substituted)."""
        return self.const + sum(count * (len(name) + 3) for name, count in self.refs)


def _plus(parts: list[_Linear], const: int) -> _Linear:
    refs: dict[str, int] = {}
    for part in parts:
        for name, count in part.refs:
            refs[name] = refs.get(name, 0) + count
    return _Linear(const + sum(p.const for p in parts), tuple(refs.items()))


@dataclass(frozen=True)
class _Param:
    size: int
    value: Any = None  # the value itself when small (see _KEEP_VALUE); None when only its size is known
    known: bool = False


@dataclass
class _Walk:
    blocks: dict[str, Any]
    top: SourcePath = ()
    layers: int = 0
    uses: int = 0
    size: int = 0
    forms: dict[int, _Linear] = field(default_factory=dict)

    def form(self, value: Any) -> _Linear:
        """The linear size of a value of the document, computed once per value (by identity)."""
        key = id(value)
        if key not in self.forms:
            self.forms[key] = self._form(value)
        return self.forms[key]

    def _form(self, value: Any) -> _Linear:
        if isinstance(value, dict):
            return _plus([self.form(v) for v in value.values()], 2 + sum(len(str(k)) + 2 for k in value))
        if isinstance(value, list):
            return _plus([self.form(v) for v in value], 2 + len(value))
        if not isinstance(value, str):
            return _Linear(len(str(value)))
        names = PARAM.findall(value)
        if not names:
            return _Linear(len(value))
        refs: dict[str, int] = {}
        for name in names:
            refs[name] = refs.get(name, 0) + 1
        return _Linear(len(PARAM.sub("", value)), tuple(refs.items()))

    def param(self, value: Any, params: dict[str, _Param] | None) -> _Param:
        """A parameter's size, and its value when small: substituted from `params`, or as written if None."""
        form = self.form(value)
        size = form.literal() if params is None else form.size(params)
        if size > _KEEP_VALUE:
            return _Param(size)
        if params is None or not form.refs:
            return _Param(size, value, known=True)
        if not all(params.get(name, _Param(0)).known for name, _ in form.refs):
            return _Param(size)
        return _Param(size, substitute(value, lambda name, _: params[name].value, ()), known=True)

    # ---- the walk -------------------------------------------------------------------------------------------

    def use(self, use: dict[str, Any], given: dict[str, _Param], inside: tuple[str, ...], times: int) -> None:
        """Count what `use` expands to, `times` over; a use that expansion would refuse counts nothing."""
        found = self._definition(use, inside)
        if found is None:
            return
        name, definition, repeat = found
        params = self._params(definition, given)
        if params is None:
            return
        times *= repeat
        for template in definition["layers"]:
            if is_use(template):
                self.count(uses=times)
                inner = {k: self.param(v, params) for k, v in mapping(template.get("with")).items()}
                self.use(self._resolved(template, params), inner, (*inside, name), times)
            else:
                self.count(layers=times, size=times * self.form(template).size(params))

    def count(self, *, layers: int = 0, uses: int = 0, size: int = 0) -> None:
        self.layers += layers
        self.uses += uses
        self.size += size
        if self.layers > MAX_EXPANDED:
            self._refuse(f"more than {MAX_EXPANDED:,} layers, the most a spec may have")
        if self.uses > MAX_EXPANDED:
            self._refuse(f"more than {MAX_EXPANDED:,} block uses")
        if self.size > MAX_EXPANDED_BYTES:
            limit = MAX_EXPANDED_BYTES // (1024 * 1024)
            self._refuse(f"more than {limit} MiB of layer arguments, counting every copy and `${{param}}` substituted")

    def _refuse(self, what: str) -> None:
        raise ExpansionTooLarge(
            self.top,
            f"the blocks would expand to {what}; counted before expanding: check the `repeat` counts and "
            "`with:` values of nested block uses",
        )

    def _definition(self, use: dict[str, Any], inside: tuple[str, ...]) -> tuple[str, dict[str, Any], int] | None:
        name, repeat = use.get("block"), use.get("repeat", 1)
        if not isinstance(name, str) or name in inside or len(inside) >= MAX_NESTING:
            return None
        definition = self.blocks.get(name)
        if not isinstance(definition, dict) or not _has_layers(definition):
            return None
        if type(repeat) is not int or not 1 <= repeat <= MAX_REPEAT:
            return None
        return name, definition, repeat

    def _params(self, definition: dict[str, Any], given: dict[str, _Param]) -> dict[str, _Param] | None:
        declared = mapping(definition.get("params"))
        if any(key not in declared for key in given):
            return None
        params = {k: self.param(v, None) for k, v in declared.items()} | given
        if any(p.known and p.value is None for p in params.values()):
            return None  # a required parameter without a value
        return params

    def _resolved(self, template: dict[str, Any], params: dict[str, _Param]) -> dict[str, Any]:
        """The fields of a nested use that decide what it expands to, with known parameters substituted."""
        resolved: dict[str, Any] = {}
        for key in ("block", "repeat"):
            if key in template:
                value = self.param(template[key], params)
                resolved[key] = value.value if value.known else None
        return resolved


def _has_layers(definition: dict[str, Any]) -> bool:
    """A block with a list of layers; an empty list expands to nothing (schema validation reports it)."""
    layers = definition.get("layers")
    return isinstance(layers, list) and len(layers) > 0


def check_expansion_size(raw_layers: list[Any], blocks: dict[str, Any]) -> None:
    """Raise ExpansionTooLarge if expanding the block uses among `raw_layers` would pass a limit."""
    if not any(is_use(entry) for entry in raw_layers):
        return  # nothing to expand; the schema limits the length of a plain list
    walk = _Walk(blocks)
    for i, entry in enumerate(raw_layers):
        walk.top = ("layers", i)
        if is_use(entry):
            walk.count(uses=1)
            given = {k: walk.param(v, None) for k, v in mapping(entry.get("with")).items()}
            walk.use(entry, given, (), 1)
        else:
            walk.count(layers=1)
