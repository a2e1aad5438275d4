"""Masks along the graph, as Keras 3 propagates them: which layer outputs carry one, and where one is lost.

An `Embedding` with `mask_zero: true` and `Masking` make a mask; each layer type says (LayerSpec.masking and
`output_masks`) whether it passes a mask on, uses it up, or cannot take one. Keras drops a mask that reaches a layer
of the last kind with only a warning, so the padded steps silently count as data: `check` makes that an error.
"""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.graph import Graph, Node
from layerspec.layers.base import LayerSpec, split_ref

# Where each output's mask was made (the producing layer's name), or None for an output without a mask.
_Masks = list[str | None]


def mask_errors(graph: Graph) -> list[Diagnostic]:
    """An error at every layer that a mask reaches although it cannot take one."""
    if not _may_make_masks(graph):
        return []
    masks: dict[str, _Masks] = {}
    errors: list[Diagnostic] = []
    for node in graph.nodes:
        if node.layer is None:
            masks[node.name] = [None]
            continue
        arriving = _arriving(node, masks)
        if arriving and node.layer.masking in ("refuse", "fails"):
            errors.append(_refused(graph, node, *arriving[0]))
            arriving = []
        masked = node.layer.combined_mask([_carries(ref, masks) for ref in node.inputs]) if arriving else False
        made = node.layer.output_masks(masked)
        origin = arriving[0][1] if arriving else node.name
        masks[node.name] = [origin if m else None for m in made]
    return errors


def _may_make_masks(graph: Graph) -> bool:
    """Whether any layer's type decides for itself which outputs carry a mask (LayerSpec.output_masks passes on only
    a mask that arrives, and none arrives from a model input): without one no mask exists, so there is nothing to
    follow through a large model."""
    types = {type(node.layer) for node in graph.nodes if node.layer is not None}
    return any(cls.output_masks is not LayerSpec.output_masks for cls in types)


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
