"""The folded spec of `layerspec import --blocks` as text (block names, descriptions, layout), and the proof
that it means the imported graph.

The proof expands and checks both specs the way `check` does and compares every node: name, type, the tensors it
reads, every argument (with defaults filled in by the schema, so `strides: 1` written by a block equals a stride
left out), and every figure `check --json` prints (shapes, parameters, MACs, receptive fields).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from layerspec.errors import SpecError


def block_name(prefix: str, layers: list[dict[str, Any]], used: set[str]) -> str:
    """The prefix without its numbers and what the block is: conv2_block2 -> conv_block_residual."""
    base = re.sub(r"_+", "_", re.sub(r"\d+", "", prefix)).strip("_.-")
    base = base if re.match(r"[A-Za-z_]", base) else f"block_{base}".rstrip("_")
    name, n = f"{base}_{kind(layers)}", 2
    while name in used:
        name, n = f"{base}_{kind(layers)}_{n}", n + 1
    return name


def kind(layers: list[dict[str, Any]]) -> str:
    """residual (dense): the block's input is added (concatenated) back; projection: a second branch reads it
    (a shortcut convolution); strided: a single path that shrinks the image; plain: anything else."""
    skips = [layer for layer in layers[1:] if "$input" in _listed(layer.get("inputs"))]
    merges = [layer["type"] for layer in skips if isinstance(layer.get("inputs"), list)]
    if merges:
        return {"Add": "residual", "Concatenate": "dense"}.get(merges[0], "merge")
    if skips:
        return "projection"
    strided = any(layer.get("strides") not in (None, 1, [1, 1]) for layer in layers)
    return "strided" if strided or any(layer["type"].startswith("ZeroPadding") for layer in layers) else "plain"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def describe(prefixes: list[str], layers: list[dict[str, Any]]) -> str:
    types = ", ".join(dict.fromkeys(layer["type"] for layer in layers))
    return (
        f"{len(layers)} layers ({types}) that the imported model repeats {len(prefixes)} times "
        f"({prefixes[0]} ... {prefixes[-1]})."
    )


def render(spec: dict[str, Any], comments: list[str]) -> str:
    """Laid out as the unfolded import is: one flow mapping per layer, blocks before `layers:`."""
    head = {k: v for k, v in spec.items() if k not in ("blocks", "layers", "outputs")}
    tail = {k: v for k, v in spec.items() if k == "outputs"}
    lines = [*comments, ""]
    lines.append(yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=120).rstrip())
    lines += ["", "blocks:"]
    for name, definition in spec.get("blocks", {}).items():
        lines.append(f"  {_flow(name)}:")
        lines.append("    " + yaml.safe_dump({"description": definition["description"]}, width=10_000).strip())
        if definition.get("params"):
            lines.append(f"    params: {_flow(definition['params'])}")
        lines.append("    layers:")
        lines += [f"      - {_flow(layer)}" for layer in definition["layers"]]
    lines += ["", "layers:"]
    lines += [f"  - {_flow(entry)}" for entry in spec["layers"]]
    if tail:
        lines += ["", yaml.safe_dump(tail, default_flow_style=None).rstrip()]
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=True, width=10_000).strip()
    return text.removesuffix("...").strip()  # a bare scalar ends with the document-end marker


def expansion_differences(unfolded: str, folded: str, path: Path, limit: int = 3) -> list[str]:
    """How the folded spec's expanded model differs from the unfolded one's (at most `limit`); [] when not."""
    before = _facts(unfolded, path)
    try:
        after = _facts(folded, path)
    except SpecError as exc:
        return [f"it does not check: {exc.diagnostics[0].message if exc.diagnostics else exc}"]
    problems = _node_differences(before[0], after[0])
    for old, new in zip(before[1]["layers"], after[1]["layers"], strict=False):
        if old != new:
            figures = [k for k in old if old[k] != new.get(k)]
            problems.append(f"layer '{old['name']}': figures {figures} differ")
    problems += [
        f"the model's {k} differ" for k in ("name", "params", "inputs", "outputs") if before[1][k] != after[1][k]
    ]
    if before[2] != after[2]:
        problems.append(f"the outputs differ ({before[2]} became {after[2]})")
    return problems[:limit]


def _node_differences(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    old_names, new_names = [n["name"] for n in before], [n["name"] for n in after]
    if old_names != new_names:
        lost = [name for name in old_names if name not in set(new_names)]
        first = lost[0] if lost else next(a for a, b in zip(old_names, new_names, strict=False) if a != b)
        return [f"the layers differ: '{first}' is missing or moved ({len(old_names)} became {len(new_names)})"]
    problems = []
    for old, new in zip(before, after, strict=True):
        problems += [
            f"layer '{old['name']}': {key} {old.get(key)!r} became {new.get(key)!r}"
            for key in dict.fromkeys([*old, *new])
            if old.get(key) != new.get(key)
        ]
    return problems


def _facts(text: str, path: Path) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Every expanded node as data, the figures `check --json` prints, and the outputs."""
    from layerspec.check import check_loaded
    from layerspec.spec import parse_spec

    checked = check_loaded(parse_spec(text, path))
    nodes = []
    for node in checked.graph.nodes:
        model = node.layer if node.layer is not None else node.input_spec
        arguments = model.model_dump(mode="json", exclude={"inputs"}) if model is not None else {}
        # One flat mapping, so a difference names the argument: `strides 2 became 1`.
        nodes.append(
            {
                **arguments,
                "name": node.name,
                "type": node.type,
                "inputs": list(node.inputs),
                "call_refs": list(node.call_refs),
            }
        )
    return nodes, checked.summary.to_json(), list(checked.graph.outputs)
