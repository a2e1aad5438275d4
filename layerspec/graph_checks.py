"""Checks of the assembled graph as a whole: dtypes along edges, layers that lead to no output, depth."""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.graph import MAX_MODEL_DEPTH, Graph, GraphErrors, Node
from layerspec.layers import LayerSpec
from layerspec.layers.base import split_ref


def integer_inputs(graph: Graph) -> list[Diagnostic]:
    """Layers whose input has the wrong kind of dtype: an integer or boolean model input (or a layer's integer
    output, LayerSpec.output_dtype) read by a layer that computes on floats (unless it casts, LayerSpec.casts_input,
    and the dtype is not one it refuses), or floats read by an embedding (integer ids)."""
    if _floats_only(graph):
        return []
    errors = GraphErrors(graph.loaded)
    dtypes: dict[str, str] = {n.name: n.input_spec.dtype for n in graph.input_nodes if n.input_spec is not None}
    dtypes.update(
        (n.name, dtype) for n in graph.nodes if n.layer is not None and (dtype := n.layer.output_dtype()) is not None
    )
    for node in graph.nodes:
        if node.layer is None:
            continue
        kind, inputs = node.layer.input_kind(), node.inputs
        for ref in inputs if node.plain else dict.fromkeys(split_ref(r)[0] for r in inputs):
            dtype = dtypes.get(ref, "float32")  # every layer outputs its float compute dtype
            is_float = dtype.startswith(("float", "bfloat"))
            if (kind == "float" and not is_float) or dtype in node.layer.refused_dtypes:
                errors.add(
                    node.path,
                    f"{node.label()} reads input '{ref}' of dtype {dtype}, which Keras's {node.layer.type} cannot "
                    "compute on: read it with a Rescaling layer first (it converts to float)",
                )
            elif kind == "integer" and (is_float or dtype == "bool"):
                source = f"input '{ref}' of dtype {dtype}" if ref in dtypes else f"'{ref}', whose output is float32"
                errors.add(
                    node.path,
                    f"{node.label()}: {node.layer.type} looks up integer ids, but reads {source}: feed it a model "
                    "input of integer dtype, e.g. `input: {shape: [120], dtype: int32}`",
                )
    return errors.items


def _floats_only(graph: Graph) -> bool:
    """Whether every tensor is float and every layer computes on floats: every model input is float, and no layer
    type has its own `input_kind` or `output_dtype` or refuses a dtype, so `integer_inputs` has nothing to find."""
    inputs = [n.input_spec.dtype for n in graph.input_nodes if n.input_spec is not None]
    if not all(dtype.startswith(("float", "bfloat")) for dtype in inputs):
        return False
    types = {type(n.layer) for n in graph.nodes if n.layer is not None}
    return all(
        cls.input_kind is LayerSpec.input_kind and cls.output_dtype is LayerSpec.output_dtype and not cls.refused_dtypes
        for cls in types
    )


def unreachable(graph: Graph) -> list[Diagnostic]:
    """Layers and inputs that no output depends on (Keras would silently drop them)."""
    errors = GraphErrors(graph.loaded)
    nodes, outputs = graph.nodes, graph.outputs
    by_name = graph.by_name
    needed: set[str] = set()
    stack = [split_ref(o)[0] for o in outputs]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(by_name[name].sources)
    for node in nodes:
        if node.name in needed:
            continue
        if node.layer is None:
            errors.add(("inputs",), f"model input '{node.name}' is not used by any output")
        else:
            errors.add(
                node.path,
                f"{node.label()} does not lead to any output: remove it, or list it under `outputs`",
            )
    return errors.items


def too_deep(graph: Graph) -> list[Diagnostic]:
    """An error at the first layer on a path longer than MAX_MODEL_DEPTH layers, naming the model's depth."""
    depth: dict[str, int] = {}
    first: Node | None = None
    for node in graph.nodes:  # in evaluation order, so every input's depth is known
        sources = node.sources
        if node.layer is None:
            depth[node.name] = 0
        elif len(sources) == 1:  # most layers (spared the generator)
            depth[node.name] = 1 + depth.get(sources[0], 0)
        else:
            depth[node.name] = 1 + max((depth.get(r, 0) for r in sources), default=0)
        if first is None and depth[node.name] > MAX_MODEL_DEPTH:
            first = node
    if first is None:
        return []
    errors = GraphErrors(graph.loaded)
    errors.add(
        first.path,
        f"{first.label()} is layer {MAX_MODEL_DEPTH + 1:,} on a path from an input: the model is "
        f"{max(depth.values()):,} layers deep, and at most {MAX_MODEL_DEPTH:,} layers in a row are supported "
        "(Keras builds, saves and loads a model recursively, layer by layer): make the model shallower",
    )
    return errors.items
