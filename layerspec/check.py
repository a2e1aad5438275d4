"""`layerspec check`: spec -> graph -> shapes -> expectations, without TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layerspec.errors import SpecError, in_file_order
from layerspec.graph import Graph, assemble_graph, integer_inputs, too_deep, unreachable
from layerspec.shapes import ModelSummary, check_expectations, infer
from layerspec.spec import LoadedSpec, load_spec


@dataclass(frozen=True)
class Checked:
    loaded: LoadedSpec
    graph: Graph
    summary: ModelSummary


def check_loaded(loaded: LoadedSpec) -> Checked:
    """Graph, shapes and expectations of a validated spec; raises SpecError listing every problem found."""
    graph, problems = assemble_graph(loaded)
    if graph is None:
        raise SpecError(problems)
    # With graph errors the graph is partial, so "leads to no output" would be noise.
    problems = problems or unreachable(graph) + integer_inputs(graph) + too_deep(graph)
    try:
        summary = infer(graph)
    except SpecError as exc:
        problems += exc.diagnostics
    if problems:
        raise SpecError(in_file_order(problems))
    check_expectations(graph, summary)
    return Checked(loaded, graph, summary)


def check_file(path: Path) -> Checked:
    """Run every static check on a spec file; raises SpecError listing each problem."""
    return check_loaded(load_spec(path))
