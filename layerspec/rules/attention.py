"""Rules on what attention layers hand the layers after them: scores whose shape Keras declares wrongly, and value
masks that Keras spreads over the wrong axes."""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.graph import Node, output_path
from layerspec.layers import Shape, format_shape
from layerspec.layers.attention import MultiHeadAttention
from layerspec.layers.base import FAILS_WHEN_RUN, SHAPE_WHEN_RUN
from layerspec.layers.scored_attention import AdditiveAttention, Attention
from layerspec.masks import carried_masks
from layerspec.rules.base import Context, rule


@rule
def attention_scores_as_declared(ctx: Context) -> list[Diagnostic]:
    """MultiHeadAttention's scores are declared (heads, T, T) whatever the key's length and the inputs' rank; a
    layer that reads them is built for that shape and fails, or computes on other axes, when the model runs. A
    model output of them only has a wrong declared shape: a warning."""
    if ctx.graph is None or ctx.summary is None:
        return []
    wrong: dict[str, tuple[Node, Shape, Shape]] = {}
    for node in ctx.graph.nodes:
        layer = node.layer
        if isinstance(layer, MultiHeadAttention) and layer.scores_returned():
            declared = ctx.summary.record(node.name).output_shapes[1]
            run = layer.scores_when_run([ctx.summary.output_shape_of(ref) for ref in node.inputs])
            if run != declared:
                wrong[f"{node.name}[1]"] = (node, declared, run)
    if not wrong:
        return []
    problems = []
    for node in ctx.graph.nodes:
        for ref in (*node.inputs, *node.call_refs):
            if ref in wrong:
                problems.append(ctx.error(node.path, f"{node.label()}: {_scores(ref, *wrong[ref])}"))
    for position, ref in enumerate(ctx.graph.outputs):
        if ref in wrong:
            message = f"the model output {_scores(ref, *wrong[ref])}"
            problems.append(ctx.warning(output_path(ctx.loaded, position), message))
    return problems


def _scores(ref: str, producer: Node, declared: Shape, run: Shape) -> str:
    return (
        f"'{ref}', the attention scores of {producer.label()}, has shape {format_shape(run)} when the model runs "
        f"but is declared {format_shape(declared)} ({SHAPE_WHEN_RUN}); Keras declares (heads, T, T) with T the "
        "query's length: return scores only of inputs of shape (positions, features), with as many key positions "
        "as query positions"
    )


@rule
def projected_masks_fit_scores(ctx: Context) -> list[Diagnostic]:
    """MultiHeadAttention spreads its inputs' masks over the scores as if the inputs had one position axis: with
    more, the mask cannot be broadcast to the scores and the softmax fails when the model runs (found by
    tests/fuzz: scores (2, 2, 9, 11, 9, 11), mask (1, 1, 2, 9, 1, 11))."""
    if ctx.graph is None or ctx.summary is None:
        return []
    attending = [n for n in ctx.graph.nodes if isinstance(n.layer, MultiHeadAttention)]
    if not attending:
        return []
    masked = carried_masks(ctx.graph)
    problems = []
    for node in attending:
        rank = len(ctx.summary.output_shape_of(node.inputs[0])) + 1
        with_mask = [ref for ref in node.inputs if masked(ref)]
        if rank > 3 and with_mask:
            problems.append(
                ctx.error(
                    node.path,
                    f"{node.label()}: '{with_mask[0]}' carries a mask, which Keras's MultiHeadAttention cannot spread "
                    f"over the scores of inputs of rank {rank} ({FAILS_WHEN_RUN}): reshape the inputs to "
                    "(positions, features), or drop the mask first",
                )
            )
    return problems


@rule
def value_masks_fit_scores(ctx: Context) -> list[Diagnostic]:
    """Attention and AdditiveAttention subtract the value's mask from the scores as it is, which lines it up with
    the scores' axes only for inputs of rank 3 (batch, positions, features) or with `use_causal_mask` (found by
    tests/fuzz: a rank-5 input's mask broadcast the output to another shape)."""
    if ctx.graph is None or ctx.summary is None:
        return []
    scored = [n for n in ctx.graph.nodes if isinstance(n.layer, Attention | AdditiveAttention)]
    if not scored:
        return []
    masked = carried_masks(ctx.graph)
    problems = []
    for node in scored:
        assert isinstance(node.layer, Attention | AdditiveAttention)
        causal = node.layer.call is not None and node.layer.call.use_causal_mask
        value = node.inputs[1]
        rank = len(ctx.summary.output_shape_of(value)) + 1
        if not causal and rank > 3 and masked(value):
            problems.append(
                ctx.error(
                    node.path,
                    f"{node.label()}: the value '{value}' carries a mask, which Keras's {node.layer.type} applies to "
                    f"scores of rank {rank} along the wrong axes ({FAILS_WHEN_RUN}, or gives "
                    "another shape): reshape the inputs to (positions, features), or drop the mask first",
                )
            )
    return problems
