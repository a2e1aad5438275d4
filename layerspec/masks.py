"""Masks along the graph, as Keras 3 propagates them: which layer outputs carry one, and where one is lost.

An `Embedding` with `mask_zero: true` and `Masking` make a mask; each layer type says (LayerSpec.masking and
`output_masks`) whether it passes a mask on, uses it up, or cannot take one. Keras drops a mask that reaches a layer
of the last kind with only a warning, so the padded steps silently count as data: `check` makes that an error.
"""

from __future__ import annotations

from collections.abc import Callable

from layerspec.errors import Diagnostic
from layerspec.graph import Graph, Node
from layerspec.layers.base import FAILS_WHEN_RUN, LayerSpec, split_ref

# Where each output's mask was made (the producing layer's name), or None for an output without a mask.
_Masks = list[str | None]


def mask_errors(graph: Graph) -> list[Diagnostic]:
    """An error at every layer that a mask reaches although it cannot take one."""
    return _follow(graph)[1]


def carried_masks(graph: Graph) -> Callable[[str], bool]:
    """Whether the output a reference names (`NAME` or `NAME[i]`) carries a mask, as Keras builds the model."""
    masks = _follow(graph)[0]
    return lambda ref: _carries(ref, masks)


def _follow(graph: Graph) -> tuple[dict[str, _Masks], list[Diagnostic]]:
    """Each node's outputs' masks (by producer), and an error at every layer that one reaches although it cannot
    take it."""
    if not _may_make_masks(graph):
        return {}, []
    masks: dict[str, _Masks] = {}
    late: dict[str, _Masks] = {}  # the masks only the running model attaches (LayerSpec.masks_when_run)
    errors: list[Diagnostic] = []
    for node in graph.nodes:
        if node.layer is None:
            masks[node.name] = late[node.name] = [None]
            continue
        errors += _follow_late(graph, node, late, [_carries(ref, masks) for ref in node.inputs])
        arriving = _arriving(node, masks)
        if arriving and node.layer.masking in ("refuse", "fails"):
            errors.append(_refused(graph, node, *arriving[0]))
            arriving = []
        masked = node.layer.combined_mask([_carries(ref, masks) for ref in node.inputs]) if arriving else False
        made = node.layer.output_masks(masked)
        origin = arriving[0][1] if arriving else node.name
        masks[node.name] = [origin if m else None for m in made]
    return masks, errors


def _follow_late(graph: Graph, node: Node, late: dict[str, _Masks], carried: list[bool]) -> list[Diagnostic]:
    """Record which of `node`'s outputs carry a mask that only the running model attaches, given which inputs carry a
    declared one (`carried`); an error if the node's Keras call reads such a mask: a layer that passes masks on
    passes it on, any other drops it (harmlessly: the scores it masks are already zero where it is off)."""
    assert node.layer is not None
    arriving = _arriving(node, late)
    errors = []
    if arriving and node.layer.reads_masks:
        errors.append(_read_when_run(graph, node, *arriving[0]))
        arriving = []
    passed = node.layer.output_masks(True) if arriving and node.layer.masking == "pass" else []
    made = node.layer.masks_when_run(carried)
    late[node.name] = [
        node.name if m else (arriving[0][1] if i < len(passed) and passed[i] else None) for i, m in enumerate(made)
    ]
    return errors


def _read_when_run(graph: Graph, node: Node, ref: str, producer: str) -> Diagnostic:
    assert node.layer is not None
    maker = graph.by_name[producer]
    via = f"'{ref}'" if split_ref(ref)[0] == producer else f"'{ref}' (from '{producer}')"
    message = (
        f"{node.label()}: {via} carries, when the model runs, the mask {maker.label()} applies to its attention "
        f"scores (Keras attaches it to the scores, though the model it builds declares no mask), and Keras's "
        f"{node.layer.type} reads it ({FAILS_WHEN_RUN}): return the scores without `use_causal_mask` or masked "
        "inputs, or pass them through a layer that drops masks (such as Reshape) first"
    )
    return graph.loaded.source.diagnostic(node.path, message)


def _may_make_masks(graph: Graph) -> bool:
    """Whether any layer's type decides for itself which outputs carry a mask (LayerSpec.output_masks passes on only
    a mask that arrives, and none arrives from a model input): without one no mask exists, so there is nothing to
    follow through a large model."""
    types = {type(node.layer) for node in graph.nodes if node.layer is not None}
    return any(
        cls.output_masks is not LayerSpec.output_masks or cls.masks_when_run is not LayerSpec.masks_when_run
        for cls in types
    )


def _carries(ref: str, masks: dict[str, _Masks]) -> bool:
    name, index = split_ref(ref)
    outputs = masks.get(name, [])
    return index < len(outputs) and outputs[index] is not None


def _arriving(node: Node, masks: dict[str, _Masks]) -> list[tuple[str, str]]:
    """(reference, producer) of each input of `node` that carries a mask."""
    found = []
    for ref in node.inputs:
        name, index = split_ref(ref)
        outputs = masks.get(name, [])
        producer = outputs[index] if index < len(outputs) else None
        if producer is not None:
            found.append((ref, producer))
    return found


def _refused(graph: Graph, node: Node, ref: str, producer: str) -> Diagnostic:
    maker = graph.by_name[producer]
    assert node.layer is not None and maker.layer is not None
    made = "`mask_zero: true`" if maker.layer.type != "Masking" else "Masking"
    via = f"'{ref}'" if split_ref(ref)[0] == producer else f"'{ref}' (masked by '{producer}')"
    what = (
        "Keras builds the model, which then fails when it runs "
        f"({getattr(node.layer, 'mask_failure', 'the mask has one axis fewer than the input')})"
        if node.layer.masking == "fails"
        else "Keras would drop it with only a warning, so the masked steps would count as data"
    )
    message = (
        f"{node.label()}: {via} carries a mask (from {made} in {maker.label()}), which Keras's {node.layer.type} "
        f"cannot take: {what}; consume the mask first (an LSTM, GRU or GlobalAveragePooling1D), or remove it at "
        "its source"
    )
    return graph.loaded.source.diagnostic(node.path, message)
