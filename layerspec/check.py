"""`layerspec check`: spec -> graph -> shapes -> expectations, without TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layerspec.errors import SpecError
from layerspec.graph import Graph, build_graph, unreachable
from layerspec.shapes import ModelSummary, check_expectations, infer
from layerspec.spec import LoadedSpec, load_spec


@dataclass(frozen=True)
class Checked:
    loaded: LoadedSpec
    graph: Graph
    summary: ModelSummary


def check_loaded(loaded: LoadedSpec) -> Checked:
    graph = build_graph(loaded)
    problems = unreachable(graph)
    try:
        summary = infer(graph)
    except SpecError as exc:
        problems += exc.diagnostics
    if problems:
        raise SpecError(sorted(problems, key=lambda d: (d.line, d.col, d.message)))
    check_expectations(graph, summary)
    return Checked(loaded, graph, summary)


def check_file(path: Path) -> Checked:
    """Run every static check on a spec file; raises SpecError listing each problem."""
    return check_loaded(load_spec(path))
