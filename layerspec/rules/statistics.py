"""Rules about statistics a layer holds as weights that only data or loaded weights set."""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.layers.normalization_more import Normalization
from layerspec.rules.base import Context, rule


@rule
def normalization_without_statistics(ctx: Context) -> list[Diagnostic]:
    """A Normalization without mean and variance is what keras.applications' EfficientNets hold: Keras builds it
    with mean 0 and variance 1 and fills them from adapt() or from loaded weights. A spec never runs adapt(), so
    the layer passes its input unchanged in every model layerspec builds and trains: a warning, not an error,
    since the architecture is Keras's own and its imported weights can still be loaded into it."""
    if ctx.graph is None:
        return []
    return [
        ctx.warning(
            (*node.path, "type"),
            f"{node.label()} has no `mean` and `variance`: it normalises nothing (mean 0, variance 1) until its "
            "statistics are loaded with the model's weights; layerspec never runs adapt(), so to normalise while "
            "training write both, computed from the training data",
        )
        for node in ctx.graph.nodes
        if isinstance(node.layer, Normalization) and node.layer.mean is None
    ]
