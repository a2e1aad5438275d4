"""The Graphviz diagram: nodes and edges against the spec (parsed DOT, not pixels), labels, clusters, colours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydot
import pytest

from layerspec.check import check_file
from layerspec.diagram import dot_available, model_graph, node_label, render
from layerspec.layers import REGISTRY
from layerspec.layers.base import DENSE, FAMILIES, INPUT
from layerspec.shapes import LayerRecord, ModelSummary

SPECS = Path(__file__).resolve().parent.parent / "specs"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pydot uses an old pyparsing API
EXAMPLES = ["signs.yaml", "signs_resnet.yaml", "resnet50.yaml", "mobilenetv2.yaml"]


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith('"') and name.endswith('"') else name


def _parse(source: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(source)
    assert graphs, "model.dot does not parse"
    return graphs[0]


def _all_nodes(graph: pydot.Graph) -> dict[str, pydot.Node]:
    nodes = {_unquote(n.get_name()): n for n in graph.get_nodes() if n.get_name() not in ("node", "edge", "graph")}
    for sub in graph.get_subgraphs():
        nodes.update(_all_nodes(sub))
    return nodes


def _clusters(graph: pydot.Graph) -> dict[str, set[str]]:
    """Cluster label -> names of the nodes inside it."""
    return {_unquote(sub.get_label()): set(_all_nodes(sub)) for sub in graph.get_subgraphs()}


def _dot_for(spec: str, rankdir: str = "TB") -> tuple[pydot.Dot, ModelSummary]:
    from layerspec.build import block_types

    checked = check_file(SPECS / spec)
    graph = model_graph(checked.summary, rankdir=rankdir, block_types=block_types(checked))  # type: ignore[arg-type]
    return _parse(graph.source), checked.summary


@pytest.mark.parametrize("spec", EXAMPLES)
def test_nodes_and_edges_are_the_spec_graph(spec: str) -> None:
    dot, summary = _dot_for(spec)
    assert set(_all_nodes(dot)) == {r.name for r in summary.layers}
    edges = sorted((_unquote(e.get_source()), _unquote(e.get_destination())) for e in dot.get_edges())
    expected = sorted((ref, r.name) for r in summary.layers for ref in r.inputs)
    assert edges == expected


def test_skip_connections_are_edges_into_the_add() -> None:
    dot, _ = _dot_for("signs_resnet.yaml")
    into_add = {_unquote(e.get_source()) for e in dot.get_edges() if _unquote(e.get_destination()) == "stage1_res1_add"}
    # The block's input (the stem's pooling) skips the two convolutions and meets the residual branch.
    assert into_add == {"stem_pool", "stage1_res1_bn_b"}


def test_blocks_are_labelled_clusters() -> None:
    dot, summary = _dot_for("signs_resnet.yaml")
    clusters = _clusters(dot)
    assert set(clusters) == {
        "stage1_res1 (residual)",
        "stage1_res2 (residual)",
        "stage2 (downsample)",
        "stage3 (downsample)",
    }
    for label, members in clusters.items():
        block = label.split(" ")[0]
        assert members == {r.name for r in summary.layers if r.block == block}
    top_level = set(_all_nodes(dot)) - set().union(*clusters.values())
    assert "stem_conv" in top_level and "fc" in top_level


def test_resnet50_has_one_cluster_per_residual_block() -> None:
    dot, summary = _dot_for("resnet50.yaml")
    assert len(summary.layers) >= 150
    assert len(_clusters(dot)) == 16


def test_node_shows_name_type_shape_params_and_family_colour() -> None:
    dot, _ = _dot_for("signs.yaml")
    conv0 = _all_nodes(dot)["conv0"]
    label = conv0.get_label()
    for text in ("<B>conv0</B>", "Conv2D", "(None, 64, 64, 32)", "4,736 params"):
        assert text in label
    assert _unquote(conv0.get("fillcolor")) == REGISTRY["Conv2D"].family.colour == "#a5d8ff"
    assert _unquote(_all_nodes(dot)["bn0"].get("fillcolor")) == REGISTRY["BatchNormalization"].family.colour


def test_every_family_has_its_own_colour() -> None:
    colours = [f.colour for f in FAMILIES.values()]
    assert len(set(colours)) == len(colours)
    assert {cls.family.name for cls in REGISTRY.values()} <= set(FAMILIES)


@pytest.mark.parametrize("rankdir", ["TB", "LR"])
def test_rankdir(rankdir: str) -> None:
    dot, _ = _dot_for("signs.yaml", rankdir)
    assert dot.get("rankdir") == rankdir


def _odd_summary() -> ModelSummary:
    """A summary whose names hold every character HTML-like labels must escape."""
    odd = 'a&b<c>"d'
    records = (
        LayerRecord("input", "InputLayer", (), (4,), (), 0, INPUT),
        LayerRecord(odd, "Dense", ("input",), (2,), (), 0, DENSE, block='blk<&>"'),
    )
    return ModelSummary('m<&>"', records, ("input",), (odd,))


def test_labels_escape_markup() -> None:
    summary = _odd_summary()
    label = _html_text(node_label(summary.layers[1]))
    assert "a&amp;b&lt;c&gt;" in label and "a&b<c>" not in label
    source = model_graph(summary).source
    assert "<B>a&amp;b&lt;c&gt;" in source
    if dot_available():  # the layout program must accept the escaped labels as they are
        assert b"a&amp;b&lt;c&gt;&quot;d" in render(model_graph(summary), "svg")


def _html_text(element: object) -> str:
    import xml.etree.ElementTree as ET

    return ET.tostring(element, encoding="unicode")  # type: ignore[arg-type]


@pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
def test_render_svg_and_png() -> None:
    checked = check_file(SPECS / "signs.yaml")
    graph = model_graph(checked.summary)
    svg = render(graph, "svg")
    assert b"<svg" in svg and b"conv0" in svg
    assert render(graph, "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_diagram_needs_no_tensorflow() -> None:
    code = (
        "import sys; from pathlib import Path; from layerspec.check import check_file; "
        "from layerspec.diagram import model_graph; "
        "model_graph(check_file(Path(sys.argv[1])).summary).source; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(SPECS / "signs.yaml")], check=True)


def test_a_shared_layers_other_call_is_drawn_with_a_dotted_line_to_it() -> None:
    checked = check_file(Path(__file__).resolve().parent / "cases" / "good" / "shared_layer.yaml")
    dot = _parse(model_graph(checked.summary).source)
    dotted = [e for e in dot.get_edges() if e.get_style() == "dotted"]
    assert [(_unquote(e.get_source()), _unquote(e.get_destination())) for e in dotted] == [("embed", "embed_right")]
    assert "Dense, shares embed" in _all_nodes(dot)["embed_right"].get_label()
