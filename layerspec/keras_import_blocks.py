"""`layerspec import --blocks`: repeated sub-graphs of an imported spec folded into parameterised `blocks:`.

Works on the imported spec's layer list, never on Keras objects. Keras's applications name the layers of one unit
with a common prefix that ends in a number (`conv2_block1_1_conv`, `block_3_expand`, `block4_conv2`); every such
prefix whose layers are contiguous in the list, read one tensor from outside and are read from outside only
through their last layer (one entry, one exit) is a candidate use. Candidates with the same shape (the same inner
names, types, edges and argument keys) form a block: the argument values that differ between the uses become the
block's parameters. Blocks name their layers `<use name>_<inner name>`, so a use named after the prefix gives every
layer its Keras name back, and the folded spec can be compared with the unfolded one name by name.

Folding is greedy (the group that saves the most lines first) and never nests blocks: a nested use's name would
have to be the number Keras puts there (`conv2_block1` + `1` + `conv`), and a block use's name cannot start with
a digit. What is written is always checked against the unfolded spec (keras_import_blocks_check); if anything
differs, the unfolded spec is written instead.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined, to_jsonable_python

from layerspec.keras_import_blocks_check import block_name, describe, expansion_differences, render
from layerspec.layers import REGISTRY

NOT_ARGUMENTS = frozenset({"type", "name", "inputs"})
# A use name is the prefix: it must be a valid layer name itself.
USE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}")
# Lines a block costs besides its layers: its name, `description:`, `params:` and `layers:`.
BLOCK_OVERHEAD = 4


@dataclass(frozen=True)
class Folded:
    """The folded spec, as a mapping in the published schema, and what was folded."""

    spec: dict[str, Any]
    blocks: int
    uses: int
    layers: int  # layers now written inside blocks (counted once per use)


@dataclass(frozen=True)
class Folding:
    """What `import --blocks` writes: the folded spec when it checked out, else the unfolded one, and why."""

    text: str
    folded: Folded | None  # None when the unfolded spec is written
    message: str  # one line for stderr
    lines: tuple[int, int]  # the spec's lines unfolded, and as written


def fold_spec(text: str, source: Path) -> Folding:
    """Fold the imported spec `text` (of the model at `source`) and prove the fold, or say why not."""
    from layerspec.spec.yaml_source import parse_yaml

    path = Path(f"{source.stem}.yaml")
    before = text.count("\n")
    folded = fold_layers(parse_yaml(text, str(path)).data)
    if folded is None:
        reason = "found no repeated sub-graph that a block would shorten"
        return Folding(text, None, f"--blocks: {reason}; wrote the spec unfolded", (before, before))
    comments = [line for line in text.splitlines()[:3] if line.startswith("#")]
    comments.append("# Repeated sub-graphs folded into `blocks:` (--blocks); `layerspec check` lists every layer.")
    folded_text = render(folded.spec, comments)
    after = folded_text.count("\n")
    if after >= before:  # the `blocks:` heading and blank lines can outweigh a small saving
        reason = f"folding {folded.layers} layers would not shorten the spec ({before} -> {after} lines)"
        return Folding(text, None, f"--blocks: {reason}; wrote the spec unfolded", (before, before))
    problems = expansion_differences(text, folded_text, path)
    if problems:
        detail = "; ".join(problems)
        message = f"--blocks: the folded spec does not expand to the imported graph ({detail}); wrote it unfolded"
        return Folding(text, None, message, (before, before))
    message = (
        f"--blocks: {folded.layers} layers folded into {folded.uses} uses of {folded.blocks} "
        f"block{'s' if folded.blocks != 1 else ''} "
        f"({before} -> {after} lines), checked to expand to the same layers, arguments and figures"
    )
    return Folding(folded_text, folded, message, (before, after))


@dataclass(frozen=True)
class _Instance:
    """Layers `start` to `stop` (exclusive) of the list, all named `<prefix>_...`, fed by one tensor `feed`."""

    prefix: str
    start: int
    stop: int
    feed: str
    shape: tuple[Any, ...]  # what two uses of one block must share (see _shape)


@dataclass(frozen=True)
class _Block:
    name: str
    definition: dict[str, Any]
    uses: list[tuple[_Instance, dict[str, Any]]]  # each instance with its `with:` values
    saved: int  # lines the block saves


def fold_layers(spec: dict[str, Any]) -> Folded | None:
    """The spec with repeated sub-graphs folded into blocks; None when nothing is worth folding."""
    entries = spec.get("layers")
    if spec.get("blocks") or not isinstance(entries, list) or not all(_plain(e) for e in entries):
        return None
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names):
        return None
    refs = _references(entries, _first_input(spec))
    candidates = _candidates(entries, refs, _exits(spec, names, refs))
    chosen: list[_Block] = []
    taken: set[int] = set()
    while True:
        best = _best_block(candidates, entries, taken, {b.name for b in chosen})
        if best is None:
            break
        chosen.append(best)
        taken.update(k for instance, _ in best.uses for k in range(instance.start, instance.stop))
    if not chosen:
        return None
    return Folded(
        spec=_folded_spec(spec, entries, chosen, _first_input(spec)),
        blocks=len(chosen),
        uses=sum(len(b.uses) for b in chosen),
        layers=len(taken),
    )


def _plain(entry: Any) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("type"), str) and isinstance(entry.get("name"), str)


def _first_input(spec: dict[str, Any]) -> str | None:
    """What the first layer reads when it names no inputs (a spec of several inputs always names them)."""
    single = spec.get("input")
    if isinstance(single, dict):
        name = single.get("name")
        return name if isinstance(name, str) else "input"
    return None


def _references(entries: list[dict[str, Any]], first_input: str | None) -> list[list[str] | None]:
    """What each entry reads, by name; None for an entry this module does not fold (call arguments, a layer's
    second output, references it cannot read)."""
    out: list[list[str] | None] = []
    for i, entry in enumerate(entries):
        raw = entry.get("inputs")
        if raw is None:
            previous = entries[i - 1]["name"] if i else first_input
            refs = [previous] if previous is not None else None
        else:
            refs = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else None
        if refs is None or "call" in entry or not all(isinstance(r, str) and "[" not in r for r in refs):
            out.append(None)
        else:
            out.append(list(refs))
    return out


def _exits(spec: dict[str, Any], names: list[str], refs: list[list[str] | None]) -> dict[str, set[int]]:
    """For each layer name, who reads it: the indices of its readers, and -1 for the model's output."""
    readers: dict[str, set[int]] = {name: set() for name in names}
    for i, read in enumerate(refs):
        for ref in read or ():
            readers.setdefault(ref, set()).add(i)
    outputs = spec.get("outputs") or names[-1]
    for name in [outputs] if isinstance(outputs, str) else outputs:
        readers.setdefault(str(name), set()).add(-1)
    return readers


def _candidates(
    entries: list[dict[str, Any]], refs: list[list[str] | None], readers: dict[str, set[int]]
) -> dict[tuple[Any, ...], list[_Instance]]:
    """Every single-entry, single-exit run of layers sharing a numbered prefix, grouped by shape."""
    spans: dict[str, list[int]] = {}
    for i, entry in enumerate(entries):
        for match in re.finditer(r"\d+(?=_.)", entry["name"]):
            spans.setdefault(entry["name"][: match.end()], []).append(i)
    groups: dict[tuple[Any, ...], list[_Instance]] = {}
    for prefix, indices in spans.items():
        start, stop = indices[0], indices[-1] + 1
        if len(indices) < 2 or indices != list(range(start, stop)) or not USE_NAME.fullmatch(prefix):
            continue
        instance = _instance(prefix, start, stop, entries, refs, readers)
        if instance is not None:
            groups.setdefault(instance.shape, []).append(instance)
    return groups


def _instance(
    prefix: str,
    start: int,
    stop: int,
    entries: list[dict[str, Any]],
    refs: list[list[str] | None],
    readers: dict[str, set[int]],
) -> _Instance | None:
    inside = {entries[k]["name"] for k in range(start, stop)}
    outside = {r for k in range(start, stop) for r in refs[k] or () if r not in inside}
    if len(outside) != 1 or any(refs[k] is None for k in range(start, stop)):
        return None
    for k in range(start, stop - 1):  # one exit: only the last layer is read from outside
        if any(not start <= reader < stop for reader in readers.get(entries[k]["name"], ())):
            return None
    feed = outside.pop()
    shape = tuple(_shape(entries[k], refs[k] or [], prefix, feed) for k in range(start, stop))
    return _Instance(prefix, start, stop, feed, shape)


def _shape(entry: dict[str, Any], refs: list[str], prefix: str, feed: str) -> tuple[Any, ...]:
    """What must be equal between two uses of a block: inner name, type, edges, and the arguments that have no
    default to stand in where one use leaves them out."""
    inner = tuple("$input" if r == feed else r[len(prefix) + 1 :] for r in refs)
    keys = frozenset(k for k in entry if k not in NOT_ARGUMENTS and _default(entry["type"], k) is None)
    return entry["name"][len(prefix) + 1 :], entry["type"], inner, keys


def _default(layer_type: str, key: str) -> tuple[Any] | None:
    """The registry's default of an argument, as a spec writes it (one-tuple); None when there is none to use."""
    field = REGISTRY[layer_type].model_fields.get(key) if layer_type in REGISTRY else None
    if field is None or field.default is PydanticUndefined or field.default is None:
        return None
    try:
        return (json.loads(json.dumps(to_jsonable_python(field.default))),)
    except (TypeError, ValueError):
        return None


def _best_block(
    candidates: dict[tuple[Any, ...], list[_Instance]],
    entries: list[dict[str, Any]],
    taken: set[int],
    used_names: set[str],
) -> _Block | None:
    best: _Block | None = None
    for instances in candidates.values():
        free: list[_Instance] = []
        for instance in instances:
            span = set(range(instance.start, instance.stop))
            if not span & taken and all(other.stop <= instance.start for other in free):
                free.append(instance)
        block = _block(free, entries, used_names) if len(free) >= 2 else None
        if block is not None and block.saved > 0 and (best is None or block.saved > best.saved):
            best = block
    return best


def _block(instances: list[_Instance], entries: list[dict[str, Any]], used: set[str]) -> _Block | None:
    """The block the instances are uses of: arguments equal in all of them are written, the others become
    parameters (one per distinct column of values), with the commonest value as the default."""
    size = instances[0].stop - instances[0].start
    columns: dict[tuple[int, str], list[Any]] = {}
    for j in range(size):
        keys = dict.fromkeys(k for i in instances for k in entries[i.start + j] if k not in NOT_ARGUMENTS)
        for key in keys:
            column = [_value(entries[i.start + j], key) for i in instances]
            if any(v is None for v in column):
                return None  # null means "required" for a block parameter: such a value cannot be passed
            columns[(j, key)] = column
    params = _parameters(columns, instances[0], entries)
    layers = [_template(instances[0], j, entries, columns, params) for j in range(size)]
    defaults = {name: _commonest(column) for name, (column, _) in params.items()}
    uses = [(inst, _given(params, defaults, n)) for n, inst in enumerate(instances)]
    definition: dict[str, Any] = {"description": describe([i.prefix for i in instances], layers)}
    if defaults:
        definition["params"] = defaults
    definition["layers"] = layers
    saved = len(instances) * size - len(instances) - size - BLOCK_OVERHEAD + (not defaults)
    return _Block(block_name(instances[0].prefix, layers, used), definition, uses, saved)


def _value(entry: dict[str, Any], key: str) -> Any:
    if key in entry:
        return entry[key]
    default = _default(entry["type"], key)
    return None if default is None else default[0]


def _parameters(
    columns: dict[tuple[int, str], list[Any]], first: _Instance, entries: list[dict[str, Any]]
) -> dict[str, tuple[list[Any], list[tuple[int, str]]]]:
    """Parameter name -> (its value in each use, the arguments it sets): the same key with the same values in
    every use is one parameter (`filters` of both 3x3 convolutions), named after the key, or after key and
    layer when the key needs several."""
    varying: dict[tuple[str, str], tuple[list[Any], list[tuple[int, str]]]] = {}
    for (j, key), column in columns.items():
        if len({_dump(v) for v in column}) > 1:
            signature = (key, _dump(column))
            varying.setdefault(signature, (column, []))[1].append((j, key))
    per_key = Counter(key for key, _ in varying)
    params: dict[str, tuple[list[Any], list[tuple[int, str]]]] = {}
    for (key, _), (column, places) in varying.items():
        name = key
        if per_key[key] > 1:
            inner = entries[first.start + places[0][0]]["name"][len(first.prefix) + 1 :]
            name = f"{key}_{re.sub(r'[^A-Za-z0-9_]', '_', inner)}"
        while name in params:
            name += "_"
        params[name] = (column, places)
    return params


def _template(
    first: _Instance,
    j: int,
    entries: list[dict[str, Any]],
    columns: dict[tuple[int, str], list[Any]],
    params: dict[str, tuple[list[Any], list[tuple[int, str]]]],
) -> dict[str, Any]:
    """Layer j of the block: inner name, literal arguments, `${param}` where the uses differ, inner edges."""
    entry = entries[first.start + j]
    inner, _, edges, _ = first.shape[j]
    layer: dict[str, Any] = {"type": entry["type"], "name": inner}
    by_place = {place: name for name, (_, places) in params.items() for place in places}
    for (column_j, key), column in columns.items():
        if column_j == j:
            layer[key] = f"${{{by_place[(j, key)]}}}" if (j, key) in by_place else column[0]
    implicit = ("$input",) if j == 0 else (first.shape[j - 1][0],)
    if edges != implicit:
        layer["inputs"] = edges[0] if len(edges) == 1 else list(edges)
    return layer


def _commonest(column: list[Any]) -> Any:
    counts = Counter(_dump(v) for v in column)
    top = max(counts.values())
    return next(v for v in column if counts[_dump(v)] == top)  # the first of the commonest, for a stable choice


def _given(
    params: dict[str, tuple[list[Any], list[tuple[int, str]]]], defaults: dict[str, Any], use: int
) -> dict[str, Any]:
    """A use's `with:`: only the parameters whose value is not the default."""
    values = {name: column[use] for name, (column, _) in params.items()}
    return {name: value for name, value in values.items() if _dump(value) != _dump(defaults[name])}


def _folded_spec(
    spec: dict[str, Any], entries: list[dict[str, Any]], blocks: list[_Block], first_input: str | None
) -> dict[str, Any]:
    starts = {inst.start: (block, inst, given) for block in blocks for inst, given in block.uses}
    layers: list[dict[str, Any]] = []
    i = 0
    while i < len(entries):
        if i not in starts:
            layers.append(entries[i])
            i += 1
            continue
        block, inst, given = starts[i]
        use: dict[str, Any] = {"block": block.name, "name": inst.prefix}
        if inst.feed != (entries[i - 1]["name"] if i else first_input):
            use["inputs"] = inst.feed
        if given:
            use["with"] = given
        layers.append(use)
        i = inst.stop
    ordered = sorted(blocks, key=lambda b: b.uses[0][0].start)
    folded: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "layers":
            folded["blocks"] = {b.name: b.definition for b in ordered}
            value = layers
        folded[key] = value
    return folded


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
