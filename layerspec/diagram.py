"""The diagram stage: a Graphviz drawing of the model, made from the static summary (no TensorFlow).

Each layer is one node (name, type, output shape, parameters) coloured by its family (the colours are the
families', in layerspec/layers/families.py); each edge is one input
reference, so skip connections and merges show as written; the layers of each block instance sit in a labelled
cluster. Labels are Graphviz HTML-like labels built as element trees and serialised by `xml.etree`, which escapes
every name and value: nothing user-written is ever pasted into markup.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import graphviz

from layerspec.layers import format_shape
from layerspec.layers.base import split_ref
from layerspec.shapes import LayerRecord, ModelSummary

RankDir = Literal["TB", "LR"]
FONT = "Helvetica"
INSTALL_HINT = (
    "Graphviz's `dot` program was not found, so model.svg and model.png were not drawn (model.dot was written). "
    "Install Graphviz (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`) and build again."
)


def dot_available() -> bool:
    """Whether Graphviz's `dot` program is on PATH (the Python package only writes DOT text)."""
    return shutil.which("dot") is not None


def model_graph(
    summary: ModelSummary,
    *,
    rankdir: RankDir = "TB",
    block_types: Mapping[str, str] | None = None,
    notes: Mapping[str, str] | None = None,
    fills: Mapping[str, str] | None = None,
) -> graphviz.Digraph:
    """The model as a Graphviz digraph: nodes named after the layers, one edge per input reference. `notes` adds
    a line to a layer's label (its key arguments); `fills` replaces a layer's family colour (`layerspec diff`)."""
    graph = graphviz.Digraph(name=summary.name, comment=f"layerspec model {summary.name}")
    graph.attr(rankdir=rankdir, fontname=FONT, nodesep="0.25", ranksep="0.3", newrank="true")
    graph.attr(label=_html(_title(summary)), labelloc="t", labeljust="c")
    graph.attr("node", shape="box", style="rounded,filled", fontname=FONT, fontsize="10", margin="0.08,0.03")
    graph.attr("edge", color="#495057", arrowsize="0.6")
    _add_nodes(graph, summary, block_types or {}, _Style(notes or {}, fills or {}))
    for record in summary.layers:
        for ref in record.inputs:
            _edge(graph, ref, record.name)
        for ref in record.call_inputs:  # tensors passed as call arguments (an initial state): dashed
            _edge(graph, ref, record.name, style="dashed")
        if record.shares is not None:  # another call of a shared layer: a dotted line to the layer, no arrow
            _edge(graph, record.shares, record.name, style="dotted", arrowhead="none", constraint="false")
    return graph


def _edge(graph: graphviz.Digraph, ref: str, reader: str, **attrs: str) -> None:
    """An edge from the layer `ref` names; `enc[2]` (its third output) is labelled with the output's index."""
    name, index = split_ref(ref)
    if index:
        attrs["label"] = f"[{index}]"
        attrs["fontsize"] = "8"
    graph.edge(graphviz.nohtml(name), graphviz.nohtml(reader), **attrs)


@dataclass(frozen=True)
class _Style:
    notes: Mapping[str, str]
    fills: Mapping[str, str]


def _add_nodes(graph: graphviz.Digraph, summary: ModelSummary, block_types: Mapping[str, str], style: _Style) -> None:
    """Top-level layers go straight into the graph; each block instance's layers into its own cluster."""
    blocks: dict[str, list[LayerRecord]] = {}
    for record in summary.layers:
        if record.block is None:
            _add_node(graph, record, style)
        else:
            blocks.setdefault(record.block, []).append(record)
    for index, (block, records) in enumerate(blocks.items()):
        with graph.subgraph(name=f"cluster_{index}") as cluster:
            kind = block_types.get(block)
            label = block if kind is None or kind == block else f"{block} ({kind})"
            cluster.attr(label=graphviz.nohtml(label), style="rounded,dashed", color="#868e96", fontsize="11")
            cluster.attr(fontname=FONT, labeljust="l")
            for record in records:
                _add_node(cluster, record, style)


def _add_node(graph: graphviz.Digraph, record: LayerRecord, style: _Style | None = None) -> None:
    style = style or _Style({}, {})
    graph.node(
        graphviz.nohtml(record.name),
        label=_html(node_label(record, style.notes.get(record.name))),
        fillcolor=style.fills.get(record.name, record.family.colour),
        tooltip=graphviz.nohtml(f"{record.name} ({record.type}, {record.family})"),
    )


def node_label(record: LayerRecord, note: str | None = None) -> ET.Element:
    """Name in bold, then type, the key arguments (`note`), then output shape, parameters and receptive field."""
    table = _table()
    _row(table, record.name, bold=True)
    kind = record.type if record.shares is None else f"{record.type}, shares {record.shares}"
    _row(table, kind if not note else f"{kind} · {note}", size=9)
    figures = f"{format_shape((None, *record.output_shape))} · {record.params:,} params"
    if record.field.kind == "field" and record.type != "InputLayer":
        figures += f" · RF {record.field.label()}"
    _row(table, figures, size=9)
    return table


def _title(summary: ModelSummary) -> ET.Element:
    """The model's name and totals, and a legend of the colours of the families that occur."""
    table = _table()
    _row(table, summary.name, bold=True, size=14)
    _row(table, f"{summary.params:,} parameters ({summary.trainable_params:,} trainable) · {summary.macs:,} MACs")
    legend = ET.SubElement(ET.SubElement(table, "TR"), "TD")
    inner = ET.SubElement(legend, "TABLE", BORDER="0", CELLSPACING="4", CELLPADDING="3")
    row = ET.SubElement(inner, "TR")
    families = dict.fromkeys(r.family for r in summary.layers)
    for family in families:
        cell = ET.SubElement(row, "TD", BGCOLOR=family.colour, BORDER="1")
        ET.SubElement(cell, "FONT", {"POINT-SIZE": "9"}).text = family.name
    return table


def _table() -> ET.Element:
    return ET.Element("TABLE", BORDER="0", CELLBORDER="0", CELLSPACING="0", CELLPADDING="1")


def _row(table: ET.Element, text: str, *, bold: bool = False, size: int | None = None) -> None:
    cell = ET.SubElement(ET.SubElement(table, "TR"), "TD")
    parent = ET.SubElement(cell, "FONT", {"POINT-SIZE": str(size)}) if size is not None else cell
    target = ET.SubElement(parent, "B") if bold else parent
    target.text = text


def _html(element: ET.Element) -> str:
    """An HTML-like label: the serialised element inside <...>, which Graphviz reads as markup, not text."""
    return f"<{ET.tostring(element, encoding='unicode', short_empty_elements=False)}>"


def render(graph: graphviz.Digraph, fmt: Literal["svg", "png"]) -> bytes:
    """Lay the graph out with `dot` and return the image (raises graphviz.ExecutableNotFound without it)."""
    data: bytes = graph.pipe(format=fmt, quiet=True)  # dot's notes (e.g. "scaling to fit") are not errors
    return data
