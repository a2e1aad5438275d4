"""The graph stage: name every layer, resolve its inputs, order the layers and find graph errors."""

from __future__ import annotations

import graphlib
import heapq
from dataclasses import dataclass, field

from layerspec.errors import Diagnostic, SpecError, in_file_order
from layerspec.layers import LayerSpec
from layerspec.layers.base import construction_order, layer_names, split_ref
from layerspec.spec.blocks import PREVIOUS_PREFIX, Origin, resolve_previous
from layerspec.spec.diagnostics import did_you_mean
from layerspec.spec.load import LoadedSpec
from layerspec.spec.models import InputSpec
from layerspec.spec.partial import Unchecked
from layerspec.spec.yaml_source import SourcePath

# Keras walks a functional model recursively, one Python frame per layer along the longest path, when it builds,
# saves and loads it; `compile.keras_module` raises Python's recursion limit to match. Beyond this depth the
# model is refused by `check`, so `build` never meets a RecursionError (a chain of 5,000 layers takes minutes
# to build, and far longer to train, on a CPU).
MAX_MODEL_DEPTH = 5_000


# Not frozen (treat it as read-only): one is made per layer, and a frozen dataclass's __init__ costs several
# times more (a 60,000-layer spec spends a tenth of a second more in them). Slots: no dict per instance,
# so less memory to fill and a faster __init__.
@dataclass(slots=True)
class Node:
    """A model input or a layer, with the references it reads: `inputs` as written (`NAME` or `NAME[i]`, the i-th
    output of a layer), and `call_refs`, the references among its call arguments (`call: {initial_state: ...}`)."""

    name: str
    inputs: tuple[str, ...]
    layer: LayerSpec | None = None
    input_spec: InputSpec | None = None
    index: int = -1  # position in the expanded `layers` list; -1 for model inputs
    origin: Origin | None = None
    call_refs: tuple[str, ...] = ()
    shares: str | None = None  # for another call of a shared layer (`share: NAME`), the layer's own entry
    # The names of the nodes this one reads, inputs and call arguments alike (each once; another call of a shared
    # layer also reads the layer's own entry, which makes its weights): set once here, as every stage walks them
    # for every node.
    sources: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Whether the node reads exactly one name, its first output, and nothing under `call:` (most layers): the
    # stages take a shorter way for these.
    plain: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        refs = self.inputs
        self.plain = len(refs) == 1 and not self.call_refs and not refs[0].endswith("]") and self.shares is None
        if self.plain:
            self.sources = refs
        else:
            shared = (self.shares,) if self.shares is not None else ()
            self.sources = tuple(dict.fromkeys((*(split_ref(r)[0] for r in (*refs, *self.call_refs)), *shared)))

    @property
    def type(self) -> str:
        return self.layer.type if self.layer is not None else "InputLayer"

    @property
    def block(self) -> str | None:
        return self.origin.block if self.origin is not None else None

    @property
    def path(self) -> SourcePath:
        return self.origin.path if self.origin is not None else ("input",)

    def label(self) -> str:
        if self.origin is None:
            return f"input '{self.name}'"
        return f"layers[{self.origin.use[1]}] ({self.name})"


@dataclass
class Graph:
    """Nodes in a valid evaluation order (inputs first), and the output names."""

    loaded: LoadedSpec
    nodes: list[Node]
    outputs: list[str]
    by_name: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_name = {n.name: n for n in self.nodes}

    @property
    def input_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.layer is None]


class GraphErrors:
    """The diagnostics a graph stage collects, each pointing at its YAML line."""

    def __init__(self, loaded: LoadedSpec) -> None:
        self.loaded = loaded
        self.items: list[Diagnostic] = []

    def add(self, path: SourcePath, message: str, *, key: bool = False) -> None:
        self.items.append(self.loaded.source.diagnostic(path, message, key=key))

    def sorted(self) -> list[Diagnostic]:
        return in_file_order(set(self.items))


def build_graph(loaded: LoadedSpec) -> Graph:
    """The model's graph in evaluation order; raises SpecError listing every graph error."""
    graph, problems = assemble_graph(loaded)
    if graph is None or problems:
        raise SpecError(problems)
    return graph


def assemble_graph(loaded: LoadedSpec) -> tuple[Graph | None, list[Diagnostic]]:
    """The graph and every graph error found.

    With errors, the graph keeps only the layers whose inputs all resolve (and those that read them), so the
    shapes of the rest can still be checked and their errors reported in the same run. Duplicate names make
    every reference ambiguous: then there is no graph at all.
    """
    errors = GraphErrors(loaded)
    input_names = _input_names(loaded.spec.input_specs())
    names = _layer_names(loaded, set(input_names), errors)
    if errors.items:
        return None, errors.sorted()
    inputs = [
        Node(name, (), input_spec=spec) for name, spec in zip(input_names, loaded.spec.input_specs(), strict=True)
    ]
    layers, broken = _resolve_inputs(loaded, names, input_names, errors)
    outputs = _outputs(loaded, names, layers, errors)
    ordered = _order([n for n in inputs + layers if n.name not in broken], errors)
    placed = {n.name for n in ordered}
    return Graph(loaded, ordered, [o for o in outputs if split_ref(o)[0] in placed]), errors.sorted()


def _input_names(specs: list[InputSpec]) -> list[str]:
    return [s.name or ("input" if i == 0 else f"input_{i}") for i, s in enumerate(specs)]


def _layer_names(loaded: LoadedSpec, taken: set[str], errors: GraphErrors) -> list[str]:
    """Explicit names, checked for duplicates; the rest generated as Keras does (conv2d, conv2d_1, ...)."""
    layers, origins = loaded.spec.layers, loaded.origins
    first: dict[str, int] = {}
    for i, layer in enumerate(layers):
        if layer.name is None:
            continue
        if layer.name in taken or layer.name in first:
            where = f"layers[{origins[first[layer.name]].use[1]}]" if layer.name in first else "a model input"
            errors.add(
                (*origins[i].path, "name"),
                f"duplicate layer name '{layer.name}' (also used by {where}): names must be unique, rename one of them",
            )
        first.setdefault(layer.name, i)
    # Only a wrapper holds layers (the base type's `nested` holds none): the others are not asked, one by one.
    holds_none = LayerSpec.nested
    nested = [construction_order(layer) if type(layer).nested is not holds_none else [] for layer in layers]
    return layer_names([(layer.type, layer.name) for layer in layers], taken, nested)


def _resolve_inputs(
    loaded: LoadedSpec, names: list[str], input_names: list[str], errors: GraphErrors
) -> tuple[list[Node], set[str]]:
    """Every layer as a node reading named inputs, and the names of the nodes whose inputs are wrong."""
    known = set(names) | set(input_names)
    nodes, broken = [], set()
    origins, items, shared = loaded.origins, errors.items, loaded.shares  # looked up once, not per layer
    for i, layer in enumerate(loaded.spec.layers):
        origin = origins[i]
        refs = layer.input_names()
        before = len(items)
        if refs is None:
            # The previous entry (or the input) by its own name, which is known: most layers of a large spec.
            refs = [names[i - 1] if i > 0 else input_names[0]]
            to_check = refs if refs[0].endswith("]") else []
        else:
            refs = [resolve_previous(r, names, input_names[0]) if r.startswith(PREVIOUS_PREFIX) else r for r in refs]
            to_check = refs
        # Each check is made in line and its message only written when it fails: a large spec has tens of
        # thousands of entries, nearly all of them right.
        for ref in to_check:
            if split_ref(ref)[0] not in known:
                _unknown_ref(ref, known, origin, (*origin.path, "inputs"), errors, names[i])
        call_refs: tuple[str, ...] = ()
        if layer.call is not None:
            written = layer.call.tensor_refs()
            call_refs = tuple(ref for refs_of in written.values() for ref in refs_of)
            for argument, refs_of in written.items():
                for ref in refs_of:
                    if split_ref(ref)[0] not in known:
                        _unknown_ref(ref, known, origin, (*origin.path, "call", argument), errors, names[i])
        low, high = layer.min_inputs, layer.max_inputs
        if len(refs) < low or (high is not None and len(refs) > high):
            _check_arity(layer, refs, f"layers[{origin.use[1]}] ({names[i]})", origin, errors)
        if len(items) > before or isinstance(layer, Unchecked):  # a refused entry: nothing to infer
            broken.add(names[i])
        shares = shared.get(names[i]) if shared else None
        nodes.append(Node(names[i], tuple(refs), layer, None, i, origin, call_refs, shares))
    _check_output_indices(nodes, input_names, errors, broken)
    return nodes, broken


def _unknown_ref(ref: str, known: set[str], origin: Origin, path: SourcePath, errors: GraphErrors, reader: str) -> None:
    """`ref` names no layer of `known`; the suggestion never names the `reader` itself (a cycle)."""
    name, _ = split_ref(ref)
    hint = did_you_mean(name, sorted(known - {reader}))
    where = "" if path[-1] == "inputs" else f" under `call.{path[-1]}`"
    what = "input" if path[-1] == "inputs" else "layer"
    errors.add(path, f"layers[{origin.use[1]}] ({reader}): unknown {what} {ref!r}{where}{hint}")


def _check_output_indices(nodes: list[Node], inputs: list[str], errors: GraphErrors, broken: set[str]) -> None:
    """`NAME[i]` needs a layer with more than i outputs (an RNN with `return_state`, for instance); a model input
    has one. References to unknown names (already reported) and to refused entries are not judged."""
    indexed = [n for n in nodes if not n.plain]
    by_name = {n.name: n for n in nodes} if indexed else {}
    for node in indexed:
        assert node.layer is not None
        # Only `NAME[i]` can name a missing output: a plain `NAME` is output 0, which every node has.
        written: list[tuple[tuple[str, ...], str]] = [(("inputs",), r) for r in node.inputs if r.endswith("]")]
        if node.call_refs and node.layer.call is not None:
            called = node.layer.call.tensor_refs()
            written += [(("call", arg), r) for arg, refs in called.items() for r in refs if r.endswith("]")]
        for where, ref in written:
            name, index = split_ref(ref)
            count = 1 if name in inputs else _output_count(by_name.get(name))
            if index < count or count == 0:
                continue
            many = f"{count} outputs ({name}[0] to {name}[{count - 1}])"
            hint = "" if name in inputs else " (an RNN returns its states with `return_state: true`)"
            outputs = many if count > 1 else f"one output{hint}"
            errors.add(
                (*node.path, *where),
                f"{node.label()}: {ref!r} names output {index} of '{name}', which has {outputs}",
            )
            broken.add(node.name)


def _output_count(node: Node | None) -> int:
    """How many outputs a layer's node has; 0 (not judged) for an unknown name or a refused entry."""
    if node is None or node.layer is None or isinstance(node.layer, Unchecked):
        return 0
    return node.layer.output_count()


def _check_arity(layer: LayerSpec, refs: list[str], label: str, origin: Origin, errors: GraphErrors) -> None:
    low, high = layer.min_inputs, layer.max_inputs
    if len(refs) < low or (high is not None and len(refs) > high):
        wanted = f"exactly {low}" if low == high else f"at least {low}"
        noun = "input" if low == 1 else "inputs"
        errors.add(
            (*origin.path, "inputs"),
            f"{label}: {layer.type} takes {wanted} {noun}; received {len(refs)} ({', '.join(refs)})",
        )


def _outputs(loaded: LoadedSpec, names: list[str], layers: list[Node], errors: GraphErrors) -> list[str]:
    """The output references (`NAME` or `NAME[i]`, a layer's i-th output); each must name a layer that has it."""
    written = loaded.spec.output_names()
    outputs = written or [names[-1]]
    counts = {
        n.name: n.layer.output_count() for n in layers if n.layer is not None and not isinstance(n.layer, Unchecked)
    }
    for position, out in enumerate(outputs):
        path = output_path(loaded, position)
        name, index = split_ref(out)
        if name not in names:
            errors.add(path, f"unknown output layer {out!r}{did_you_mean(name, names)}")
        elif index >= counts.get(name, index + 1):
            count = counts[name]
            has = f"{count} outputs ({name}[0] to {name}[{count - 1}])" if count > 1 else f"one output: write '{name}'"
            errors.add(path, f"output {out!r} names output {index} of '{name}', which has {has}")
    return outputs


def output_path(loaded: LoadedSpec, position: int) -> SourcePath:
    """Where the model's `position`-th output was written: `outputs:` itself when it is one name or absent (the
    last layer), else its item."""
    outputs = loaded.spec.outputs
    return ("outputs",) if isinstance(outputs, str) or not loaded.spec.output_names() else ("outputs", position)


def _order(nodes: list[Node], errors: GraphErrors) -> list[Node]:
    """A topological order that keeps the spec's order wherever the graph allows it."""
    if _in_order(nodes):  # the usual case, and then the order below is the spec's own
        return nodes
    position = {n.name: i for i, n in enumerate(nodes)}
    waiting = {n.name: len(n.sources) for n in nodes}
    readers: dict[str, list[Node]] = {}
    for node in nodes:
        for ref in node.sources:
            readers.setdefault(ref, []).append(node)
    ready = [position[n.name] for n in nodes if waiting[n.name] == 0]
    heapq.heapify(ready)
    ordered: list[Node] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        ordered.append(node)
        for reader in readers.get(node.name, []):
            waiting[reader.name] -= 1
            if waiting[reader.name] == 0:
                heapq.heappush(ready, position[reader.name])
    if len(ordered) < len(nodes):
        _report_cycle(nodes, errors)
    return ordered


def _in_order(nodes: list[Node]) -> bool:
    """Whether every node reads only nodes listed before it."""
    seen: set[str] = set()
    for node in nodes:
        for source in node.sources:
            if source not in seen:
                return False
        seen.add(node.name)
    return True


def _report_cycle(nodes: list[Node], errors: GraphErrors) -> None:
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter({n.name: n.sources for n in nodes})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = next(n for n in nodes if n.name == cycle[0])
        errors.add(
            (*first.path, "inputs"),
            (
                f"the layers form a cycle: {' -> '.join(cycle)}; a layer cannot read its own output, so change the "
                "`inputs` of one of them"
            ),
        )
