"""What the report adds to each layer from the spec checked again: key arguments, receptive field, memory share,
and the per-layer memory chart."""

from __future__ import annotations

from dataclasses import dataclass

from layerspec.check import Checked, memory_of
from layerspec.layer_args import describe
from layerspec.memory import format_bytes
from layerspec.report import figures
from layerspec.summary_table import field_cell

CHART_LAYERS = 24  # the layers that keep most, so the chart stays readable for a 177-layer ResNet


@dataclass(frozen=True)
class LayerDetail:
    arguments: str
    field: str
    memory_share: str


def layer_details(checked: Checked | None) -> dict[str, LayerDetail]:
    if checked is None:
        return {}
    memory = memory_of(checked)
    kept = {m.name: m.kept_bytes for m in memory.layers}
    total = memory.activations_per_example
    notes = {n.name: describe(n.layer) for n in checked.graph.nodes if n.layer is not None}
    details = {}
    for record in checked.summary.layers:
        size = kept.get(record.name)
        share = "-" if size is None or not total else f"{100 * size / total:.1f} %"
        details[record.name] = LayerDetail(notes.get(record.name, ""), field_cell(record.field), share)
    return details


def memory_facts(checked: Checked | None) -> list[tuple[str, str]]:
    """The training-memory totals at the spec's batch size."""
    if checked is None:
        return []
    m = memory_of(checked)
    return [
        (f"Training memory (batch {m.batch_size}, {m.compute_dtype})", format_bytes(m.total_bytes)),
        ("Weights / gradients", f"{format_bytes(m.parameter_bytes)} / {format_bytes(m.gradient_bytes)}"),
        (
            f"Optimizer state ({m.optimizer})" + (" + EMA" if m.ema_bytes else ""),
            format_bytes(m.optimizer_bytes + m.ema_bytes),
        ),
        (f"Activations at the step's peak ({m.peak_at})", format_bytes(m.activation_bytes)),
    ]


def memory_chart(checked: Checked | None) -> str | None:
    """Horizontal bars: the activations each layer keeps for the backward pass, in MiB for the whole batch."""
    if checked is None:
        return None
    m = memory_of(checked)
    sizes = [(x.name, x.kept_bytes * m.batch_size / 2**20) for x in m.layers if x.kept_bytes]
    if not sizes:
        return None
    largest = sorted(sizes, key=lambda item: -item[1])[:CHART_LAYERS]
    shown = [item for item in sizes if item in largest]
    title = f"Activations kept per layer (batch {m.batch_size})"
    return figures.horizontal_bars(title, "MiB", [n for n, _ in shown], [v for _, v in shown])
