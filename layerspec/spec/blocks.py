"""Expansion of reusable blocks into plain layer entries, before the spec is validated.

A block is defined once under `blocks:` and used in `layers:` as `{block: NAME, name: PREFIX, with: {...},
repeat: N}`. Each use is replaced by copies of the block's layers: `${param}` is replaced by the parameter's value,
inner names get the instance's prefix (`stage1_conv`), inner references to `$input` point at the layer that
feeds the block, and the first inner layer reads that layer unless it names its own inputs. Each expanded entry
remembers where its template was written, so errors point at the right line.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from layerspec.errors import Diagnostic, SpecError
from layerspec.spec.block_size import (
    MAX_EXPANDED,
    MAX_NESTING,
    PARAM,
    ExpansionTooLarge,
    check_expansion_size,
    is_use,
    mapping,
    substitute,
)
from layerspec.spec.models import BlockUse
from layerspec.spec.yaml_source import SourceMap, SourcePath

BLOCK_INPUT = "$input"
# Expanded references to "the entry before this block" are resolved to a name only after default names exist;
# the NUL character cannot appear in a user's layer name, so these never clash with one.
PREVIOUS_PREFIX = "\x00entry:"


# Not frozen (treat it as read-only): one is made per layer, and a frozen dataclass's __init__ costs several
# times more (a 60,000-layer spec spends a tenth of a second more in them). Slots: no dict per instance,
# so less memory to fill and a faster __init__.
@dataclass(slots=True)
class Origin:
    """Where an expanded layer entry came from."""

    path: SourcePath  # the entry's own path in the YAML (inside `blocks:` for a block's layer)
    use: SourcePath  # the `layers:` entry that produced it (the block use, or the entry itself)
    block: str | None = None  # the block instance it belongs to, e.g. "stage1"
    block_type: str | None = None
    # Arguments written as `${param}`: where the parameter's value was written (the use's `with:` or the
    # block's default), which is where a bad value has to be fixed.
    fields: tuple[tuple[str, SourcePath], ...] = ()

    def field_path(self, name: str) -> SourcePath:
        """Where to point for an error about argument `name` of this entry."""
        return next((path for field_name, path in self.fields if field_name == name), (*self.path, name))


@dataclass
class _Context:
    blocks: dict[str, Any]
    source: SourceMap
    errors: list[Diagnostic]
    out: list[dict[str, Any]]
    origins: list[Origin]
    uses: dict[str, int] = field(default_factory=dict)

    def error(self, path: SourcePath, message: str, *, key: bool = False) -> None:
        self.errors.append(self.source.diagnostic(path, message, key=key))


def expand_blocks(raw: dict[str, Any], source: SourceMap) -> tuple[list[Any], list[Origin]]:
    """The spec's `layers` with every block use expanded, and the origin of each resulting entry."""
    layers = raw.get("layers")
    blocks = raw.get("blocks") if isinstance(raw.get("blocks"), dict) else {}
    if not isinstance(layers, list):
        return layers, []  # type: ignore[return-value]  # validation reports the wrong type
    try:
        check_expansion_size(layers, blocks or {})
    except ExpansionTooLarge as exc:
        raise SpecError([source.diagnostic(exc.path, exc.message)]) from None
    ctx = _Context(blocks or {}, source, [], [], [])
    for i, entry in enumerate(layers):
        path: SourcePath = ("layers", i)
        if is_use(entry):
            _expand_use(ctx, entry, path, path, prefix="", inside=(), previous=_previous_ref(ctx))
        else:
            ctx.out.append(entry)
            ctx.origins.append(Origin(path, path))
    if ctx.errors:
        # A mistake inside a repeated block is met once per copy; say it once.
        raise SpecError(list(dict.fromkeys(ctx.errors)))
    return ctx.out, ctx.origins


def _previous_ref(ctx: _Context) -> str:
    return f"{PREVIOUS_PREFIX}{len(ctx.out) - 1}"


def _expand_use(
    ctx: _Context,
    use: dict[str, Any],
    path: SourcePath,
    top: SourcePath,
    prefix: str,
    inside: tuple[str, ...],
    previous: str,
) -> None:
    name = use.get("block")
    if not _check_use(ctx, use, path):
        return
    definition = _lookup(ctx, name, path, inside)
    if definition is None:
        return
    params = _parameters(ctx, definition, use, path, str(name))
    if params is None:
        return
    repeat: int = use.get("repeat", 1)
    base = use["name"] if isinstance(use.get("name"), str) else _auto_name(ctx, prefix, str(name))
    feed = use["inputs"] if isinstance(use.get("inputs"), str) else previous
    for copy_index in range(1, repeat + 1):
        instance = f"{prefix}{base}" if repeat == 1 else f"{prefix}{base}{copy_index}"
        _expand_layers(ctx, definition, params, (str(name), instance), top, (*inside, str(name)), feed)
        feed = _previous_ref(ctx)


def _check_use(ctx: _Context, use: dict[str, Any], path: SourcePath) -> bool:
    """Validate the use itself (`repeat: 0`, a misspelt `repeats:`), which expansion would otherwise swallow."""
    inputs = use.get("inputs")
    if isinstance(inputs, str) and inputs.startswith(PREVIOUS_PREFIX):
        use = {k: v for k, v in use.items() if k != "inputs"}  # set by the expansion itself, not written
    try:
        BlockUse.model_validate(use)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            ctx.error(*_use_error(use, path, error))
        return False
    return True


def _use_error(use: dict[str, Any], path: SourcePath, error: ErrorDetails) -> tuple[SourcePath, str]:
    where = f"{_dotted(path)}: use of block '{use.get('block')}'"
    key = str(error["loc"][0]) if error["loc"] else "block"
    if error["type"] == "extra_forbidden":
        allowed = [f.alias or n for n, f in BlockUse.model_fields.items()]
        hint = _did_you_mean(key, allowed)
        return (*path, key), f"{where}: unknown key '{key}'{hint} (allowed: {', '.join(allowed)})"
    if error["type"] == "missing":
        return path, f"{where}: `{key}` is required"
    text = error["msg"].replace("Input should be", "must be")
    return (*path, *error["loc"]), f"{where}: `{key}` {text}; received {error.get('input')!r}"


def _lookup(ctx: _Context, name: Any, path: SourcePath, inside: tuple[str, ...]) -> dict[str, Any] | None:
    if not isinstance(name, str) or name not in ctx.blocks:
        hint = _did_you_mean(str(name), ctx.blocks)
        known = ", ".join(sorted(ctx.blocks)) or "none are defined under `blocks:`"
        ctx.error((*path, "block"), f"unknown block '{name}'{hint} (known blocks: {known})")
        return None
    if name in inside or len(inside) >= MAX_NESTING:
        chain = " -> ".join((*inside, name))
        ctx.error((*path, "block"), f"block '{name}' uses itself ({chain}); blocks cannot be recursive")
        return None
    definition = ctx.blocks[name]
    if not isinstance(definition, dict) or not isinstance(definition.get("layers"), list) or not definition["layers"]:
        return None  # validation of `blocks:` reports the malformed (or empty) definition
    return definition


@dataclass(frozen=True)
class _Params:
    values: dict[str, Any]
    sources: dict[str, SourcePath]  # where each value was written: the use's `with:` or the block's default


def _parameters(
    ctx: _Context, definition: dict[str, Any], use: dict[str, Any], path: SourcePath, name: str
) -> _Params | None:
    """The use's parameter values (`with:` over the block's defaults); a default of null means required."""
    declared = mapping(definition.get("params"))
    given = mapping(use.get("with"))
    ok = True
    for key in given:
        if key not in declared:
            hint = _did_you_mean(key, declared)
            choices = ", ".join(declared) or "none"
            message = f"block '{name}' has no parameter '{key}'{hint} (it has: {choices})"
            ctx.error((*path, "with", key), message, key=True)
            ok = False
    values = {**declared, **given}
    for key, value in values.items():
        if value is None:
            ctx.error((*path, "block"), f"block '{name}' needs a value for parameter '{key}': add it under `with:`")
            ok = False
    sources: dict[str, SourcePath] = {
        key: (*path, "with", key) if key in given else ("blocks", name, "params", key) for key in values
    }
    return _Params(values, sources) if ok else None


def _expand_layers(
    ctx: _Context,
    definition: dict[str, Any],
    params: _Params,
    names: tuple[str, str],
    top: SourcePath,
    inside: tuple[str, ...],
    feed: str,
) -> None:
    block_name, instance = names
    local = _local_names(definition["layers"])
    for j, template in enumerate(definition["layers"]):
        path: SourcePath = ("blocks", block_name, "layers", j)
        if len(ctx.out) >= MAX_EXPANDED:
            ctx.error(top, f"the blocks expand to more than {MAX_EXPANDED:,} layers")
            return
        entry = _substitute(ctx, copy.deepcopy(template), params.values, path)
        origin = Origin(path, top, instance, block_name, _field_sources(template, params))
        if not isinstance(entry, dict):
            ctx.out.append(entry)
            ctx.origins.append(origin)
            continue
        if "inputs" not in entry and j == 0:
            entry["inputs"] = feed
        elif "inputs" in entry:
            entry["inputs"] = _rename_refs(entry["inputs"], local, f"{instance}_", feed)
        if isinstance(entry.get("call"), dict):  # call arguments may name the block's layers too
            entry["call"] = {k: _rename_refs(v, local, f"{instance}_", feed) for k, v in entry["call"].items()}
        if is_use(entry):
            _expand_use(ctx, entry, path, top, f"{instance}_", inside, _previous_ref(ctx))
            continue
        if isinstance(entry.get("name"), str):
            entry["name"] = f"{instance}_{entry['name']}"
        ctx.out.append(entry)
        ctx.origins.append(origin)


def _field_sources(template: Any, params: _Params) -> tuple[tuple[str, SourcePath], ...]:
    """For each argument written with `${param}`, where that parameter's value was written."""
    if not isinstance(template, dict):
        return ()
    found = []
    for key, value in template.items():
        used = [p for p in PARAM.findall(str(value)) if p in params.sources]
        if used:
            found.append((str(key), params.sources[used[0]]))
    return tuple(found)


def _local_names(templates: list[Any]) -> tuple[set[str], tuple[str, ...]]:
    """Names an inner `inputs:` may use for the block's own layers: the layers' names, and the prefixes
    `<use name>_` of named nested uses (so `a_relu` reaches the `relu` layer of the nested use `a`)."""
    entries = [e for e in templates if isinstance(e, dict) and isinstance(e.get("name"), str)]
    layers = {e["name"] for e in entries if not is_use(e)}
    uses = tuple(f"{e['name']}_" for e in entries if is_use(e))
    return layers, uses


def _rename_refs(refs: Any, local: tuple[set[str], tuple[str, ...]], prefix: str, feed: str) -> Any:
    layers, uses = local

    def rename(ref: Any) -> Any:
        if ref == BLOCK_INPUT:
            return feed
        # A reference may be any YAML value before validation (a mapping is unhashable): rename strings only.
        # `conv[1]` (the second output of `conv`) is renamed as `conv` is.
        base = ref.split("[", 1)[0] if isinstance(ref, str) else None
        if base is not None and (base in layers or ref.startswith(uses)):
            return f"{prefix}{ref}"
        return ref

    return [rename(r) for r in refs] if isinstance(refs, list) else rename(refs)


def _auto_name(ctx: _Context, prefix: str, block: str) -> str:
    """Keras-style default prefix for an unnamed use: residual, residual_1, residual_2, ...

    Counted per enclosing instance, so an unnamed use inside a repeated block has the same name in every copy
    (stage1_cbr_conv, stage2_cbr_conv).
    """
    key = f"{prefix}{block}"
    count = ctx.uses.get(key, 0)
    ctx.uses[key] = count + 1
    return block if count == 0 else f"{block}_{count}"


def _substitute(ctx: _Context, value: Any, params: dict[str, Any], path: SourcePath) -> Any:
    """Replace `${name}` with the parameter: a whole-value reference keeps the parameter's type."""
    return substitute(value, lambda name, where: _param(ctx, name, params, where), path)


def _param(ctx: _Context, name: str, params: dict[str, Any], path: SourcePath) -> Any:
    if name not in params:
        hint = _did_you_mean(name, params)
        ctx.error(path, f"unknown block parameter '${{{name}}}'{hint}: declare it under the block's `params:`")
        return None
    return params[name]


def _dotted(path: SourcePath) -> str:
    """("blocks", "res", "layers", 3) -> blocks.res.layers[3]"""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _did_you_mean(word: str, choices: Any) -> str:
    match = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def resolve_previous(ref: str, names: list[str], default: str) -> str:
    """Turn a `PREVIOUS_PREFIX` reference into the name of that expanded entry (or the model input).

    A reference that expansion did not make (a user can write a NUL character in a quoted YAML string) is
    returned unchanged, so the graph reports it as an unknown input.
    """
    index = ref.removeprefix(PREVIOUS_PREFIX)
    if not index.lstrip("-").isdigit() or not -1 <= int(index) < len(names):
        return ref
    return names[int(index)] if int(index) >= 0 else default
