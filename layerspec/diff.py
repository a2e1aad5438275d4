"""`layerspec diff A B`: two specs (or run folders) compared structurally, without TensorFlow.

Layers are matched by name (an unnamed layer by the name Keras would give it, as `check` prints it). A layer is
`changed` when its type, arguments (defaults included, so `padding: valid` written out is no change), inputs or
figures (output shape, parameters, MACs, receptive field) differ. Edges, block definitions and the `train:` and
`data:` settings are compared too, and the totals (parameters, MACs, training memory) are given side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from layerspec.check import Checked, check_file, memory_of
from layerspec.errors import UsageError
from layerspec.layer_args import arguments
from layerspec.run.folder import SPEC
from layerspec.shapes import LayerRecord
from layerspec.spec.data import DataSpec
from layerspec.spec.train import TrainSpec

Pair = tuple[Any, Any]


@dataclass(frozen=True)
class LayerEntry:
    """An added or removed layer."""

    name: str
    type: str
    output_shape: list[int | None]
    params: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "output_shape": self.output_shape, "params": self.params}


@dataclass(frozen=True)
class LayerChange:
    name: str
    type: str
    # Argument (or `type`, `inputs`) -> (old, new).
    fields: dict[str, Pair]
    # Figure -> (old, new), only those that differ: output_shape, params, macs, receptive_field.
    figures: dict[str, Pair]

    def to_json(self) -> dict[str, Any]:
        fields = {k: list(v) for k, v in self.fields.items()}
        return {"name": self.name, "type": self.type, "fields": fields, **{k: list(v) for k, v in self.figures.items()}}


@dataclass(frozen=True)
class SpecDiff:
    a: str
    b: str
    added: list[LayerEntry]
    removed: list[LayerEntry]
    changed: list[LayerChange]
    edges_added: list[Pair]
    edges_removed: list[Pair]
    blocks: dict[str, list[str]]
    settings: dict[str, Pair]
    totals: dict[str, Pair]
    # Layer names in each model's order, for drawing.
    order: tuple[list[str], list[str]] = field(default=([], []))

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed or self.edges_added or self.edges_removed) and not (
            any(self.blocks.values()) or self.settings
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "added": [e.to_json() for e in self.added],
            "removed": [e.to_json() for e in self.removed],
            "changed": [c.to_json() for c in self.changed],
            "edges": {"added": [list(e) for e in self.edges_added], "removed": [list(e) for e in self.edges_removed]},
            "blocks": self.blocks,
            "settings": {k: list(v) for k, v in self.settings.items()},
            "totals": {k: list(v) for k, v in self.totals.items()},
        }


def spec_path(path: Path) -> Path:
    """A spec file, or the spec.yaml of a run folder."""
    if path.is_dir():
        inside = path / SPEC
        if not inside.is_file():
            raise UsageError(f"{path} is a folder without {SPEC}: give a spec file or a run folder", str(path))
        return inside
    return path


def diff_paths(a: Path, b: Path) -> tuple[SpecDiff, Checked, Checked]:
    """Check both specs (raising their errors) and compare them."""
    first = check_file(spec_path(a), expectations=False)
    second = check_file(spec_path(b), expectations=False)
    return diff_checked(first, second, str(a), str(b)), first, second


def diff_checked(first: Checked, second: Checked, a: str = "A", b: str = "B") -> SpecDiff:
    old, new = _layers(first), _layers(second)
    records_a = {r.name: r for r in first.summary.layers}
    records_b = {r.name: r for r in second.summary.layers}
    added = [_entry(records_b[n]) for n in records_b if n not in records_a]
    removed = [_entry(records_a[n]) for n in records_a if n not in records_b]
    changed = [c for n in records_a if n in records_b for c in [_change(records_a[n], records_b[n], old, new)] if c]
    edges_a, edges_b = _edges(first), _edges(second)
    return SpecDiff(
        a=a,
        b=b,
        added=added,
        removed=removed,
        changed=changed,
        edges_added=[e for e in edges_b if e not in set(edges_a)],
        edges_removed=[e for e in edges_a if e not in set(edges_b)],
        blocks=_blocks(first, second),
        settings=_settings(first, second),
        totals=_totals(first, second),
        order=(list(records_a), list(records_b)),
    )


def _layers(checked: Checked) -> dict[str, dict[str, Any]]:
    return {n.name: arguments(n.layer) for n in checked.graph.nodes if n.layer is not None}


def _entry(record: LayerRecord) -> LayerEntry:
    return LayerEntry(record.name, record.type, [None, *record.output_shape], record.params)


def _change(
    a: LayerRecord, b: LayerRecord, old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
) -> LayerChange | None:
    fields: dict[str, Pair] = {}
    if a.type != b.type:
        fields["type"] = (a.type, b.type)
    if a.inputs != b.inputs:
        fields["inputs"] = (list(a.inputs), list(b.inputs))
    args_a, args_b = old.get(a.name, {}), new.get(b.name, {})
    for key in dict.fromkeys([*args_a, *args_b]):
        if args_a.get(key) != args_b.get(key):
            fields[key] = (args_a.get(key), args_b.get(key))
    figures: dict[str, Pair] = {}
    for key, va, vb in (
        ("output_shape", [None, *a.output_shape], [None, *b.output_shape]),
        ("params", a.params, b.params),
        ("macs", a.macs, b.macs),
        ("receptive_field", a.field.sizes(), b.field.sizes()),
    ):
        if va != vb:
            figures[key] = (va, vb)
    return LayerChange(b.name, b.type, fields, figures) if fields or figures else None


def _edges(checked: Checked) -> list[Pair]:
    return [(ref, r.name) for r in checked.summary.layers for ref in r.inputs]


def _blocks(first: Checked, second: Checked) -> dict[str, list[str]]:
    a, b = first.loaded.spec.blocks, second.loaded.spec.blocks
    return {
        "added": [n for n in b if n not in a],
        "removed": [n for n in a if n not in b],
        "changed": [n for n in a if n in b and a[n].model_dump() != b[n].model_dump()],
    }


def _settings(first: Checked, second: Checked) -> dict[str, Pair]:
    """Every `train.` and `data.` setting (defaults filled in) whose value differs."""
    sa, sb = first.loaded.spec, second.loaded.spec
    a = {**_flatten("train", sa.train or TrainSpec()), **_flatten("data", sa.data or DataSpec())}
    b = {**_flatten("train", sb.train or TrainSpec()), **_flatten("data", sb.data or DataSpec())}
    return {k: (a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)}


def _flatten(prefix: str, model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{path}.{key}", inner)
        else:
            out[path] = value

    walk(prefix, model.model_dump(mode="json", by_alias=True))
    return out


def _totals(first: Checked, second: Checked) -> dict[str, Pair]:
    sa, sb = first.summary, second.summary
    ma, mb = memory_of(first), memory_of(second)
    return {
        "layers": (len(sa.layers), len(sb.layers)),
        "params": (sa.params, sb.params),
        "trainable_params": (sa.trainable_params, sb.trainable_params),
        "macs": (sa.macs, sb.macs),
        "memory_bytes": (ma.total_bytes, mb.total_bytes),
    }
