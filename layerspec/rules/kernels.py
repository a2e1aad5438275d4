"""Rules about what TensorFlow's kernels can run, given the spec's training settings."""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.rules.base import Context, rule


@rule
def float16_kernels_on_cpu(ctx: Context) -> list[Diagnostic]:
    """3-D pooling has no float16 kernel on a CPU: under mixed_precision float16 the model trains only on a GPU."""
    if ctx.train is None or ctx.graph is None or ctx.train.mixed_precision != "float16":
        return []
    layers = [node for node in ctx.graph.nodes if node.layer is not None and not node.layer.cpu_float16]
    if not layers:
        return []
    named = ", ".join(node.label() for node in layers[:3]) + (f" and {len(layers) - 3} more" if len(layers) > 3 else "")
    return [
        ctx.warning(
            ("train", "mixed_precision"),
            f"mixed_precision float16: TensorFlow has no float16 CPU kernel for 3-D pooling ({named}), so this "
            "model trains only on a GPU and fails at its first step on a CPU; on a CPU use bfloat16 (or auto, "
            "which picks float16 only on a GPU)",
        )
    ]
