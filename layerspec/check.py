"""`layerspec check`: spec -> graph -> shapes -> rules -> expectations, without TensorFlow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from layerspec.errors import Diagnostic, SpecError, in_file_order
from layerspec.graph import Graph, assemble_graph
from layerspec.graph_checks import integer_inputs, too_deep, unreachable
from layerspec.masks import mask_errors
from layerspec.memory import MemoryEstimate, estimate
from layerspec.rules import Context, run_rules
from layerspec.shapes import ModelSummary, check_expectations, infer
from layerspec.spec import LoadedSpec, load_spec
from layerspec.spec.data import DataSpec
from layerspec.spec.load import InvalidSpec, merge_diagnostics
from layerspec.spec.models import input_section_problem
from layerspec.spec.partial import GRAPH_SECTIONS, Unchecked
from layerspec.spec.train import TrainSpec
from layerspec.spec.yaml_loaders import collection_paused


@dataclass(frozen=True)
class Checked:
    loaded: LoadedSpec
    graph: Graph
    summary: ModelSummary
    warnings: tuple[Diagnostic, ...] = ()


def check_loaded(loaded: LoadedSpec, *, expectations: bool = True) -> Checked:
    """Graph, shapes, rules and expectations of a validated spec; raises SpecError listing every problem found.
    `expectations=False` leaves out `expect:` (`diff` compares drafts that do not meet theirs yet)."""
    checked, problems = _stages(loaded)
    if problems or checked is None:
        raise SpecError(in_file_order(problems))
    if expectations:
        check_expectations(checked.graph, checked.summary)
    return checked


def check_file(path: Path, overrides: Sequence[str] = (), *, expectations: bool = True) -> Checked:
    """Run every static check on a spec file (with `--set` overrides); raises SpecError listing each problem."""
    with collection_paused():  # a large spec checks twice as fast (see collection_paused)
        return check_loaded(load_reporting_all(path, overrides), expectations=expectations)


def load_reporting_all(path: Path, overrides: Sequence[str] = ()) -> LoadedSpec:
    """`load_spec`; when the schema refuses the spec, the graph, shape and rule errors of the parts that did
    validate are raised with its errors, so one run reports them all (a missing `input:` beside a bad layer)."""
    try:
        return load_spec(path, overrides)
    except InvalidSpec as exc:
        if exc.partial is None:
            raise
        # Refused layer entries leave holes in the graph: "leads to no output" would be noise then.
        holes = bool(exc.refused) or any(isinstance(layer, Unchecked) for layer in exc.partial.spec.layers)
        _, later = _stages(exc.partial, exc.refused, complete=not holes)
        raise SpecError(merge_diagnostics(exc.diagnostics, later)) from None


def _stages(
    loaded: LoadedSpec, refused: frozenset[str] = frozenset(), *, complete: bool = True
) -> tuple[Checked | None, list[Diagnostic]]:
    """Every stage that can run and the errors found; `refused` names the top-level keys the schema refused
    (the stages that need one are skipped); `complete` is False when layer entries or sections were refused."""
    ctx = _context(loaded, refused)
    if refused & GRAPH_SECTIONS:
        return None, _errors(run_rules(ctx))
    # pydantic skips a model's own validators when a field fails, so ask the spec's again.
    problem = None if complete else input_section_problem(loaded.spec)
    if problem is not None:
        return None, [loaded.source.diagnostic((), problem), *_errors(run_rules(ctx))]
    graph, problems = assemble_graph(loaded)
    if graph is None:
        return None, problems + _errors(run_rules(ctx))
    # With graph errors the graph is partial, so "leads to no output" would be noise.
    if not problems:
        problems = (unreachable(graph) if complete else []) + integer_inputs(graph) + too_deep(graph)
        problems += mask_errors(graph)
    try:
        summary = infer(graph)
    except SpecError as exc:
        return None, problems + exc.diagnostics + _errors(run_rules(ctx))
    found = run_rules(Context(ctx.loaded, ctx.data, ctx.train, ctx.input_shape, graph, summary))
    warnings = tuple(in_file_order(d for d in found if d.severity == "warning"))
    return Checked(loaded, graph, summary, warnings), problems + _errors(found)


def memory_of(checked: Checked, batch_size: int | None = None) -> MemoryEstimate:
    """The memory estimate of training the checked spec with its `train:` recipe (defaults without one)."""
    spec = checked.loaded.spec
    layers = {node.name: node.layer for node in checked.graph.nodes if node.layer is not None}
    dtypes = {node.name: node.input_spec.dtype for node in checked.graph.nodes if node.input_spec is not None}
    return estimate(checked.summary, layers, spec.train or TrainSpec(), batch_size, dtypes)


def _context(loaded: LoadedSpec, refused: frozenset[str]) -> Context:
    spec = loaded.spec
    data = None if "data" in refused else spec.data or DataSpec()
    train = None if "train" in refused else spec.train or TrainSpec()
    inputs = [] if refused & {"input", "inputs"} else spec.input_specs()
    return Context(loaded, data, train, tuple(inputs[0].shape) if inputs else None)


def _errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]
