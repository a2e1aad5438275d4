"""Rules about what TensorFlow's kernels can run, given the spec's training settings."""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.layers import LayerSpec
from layerspec.rules.base import Context, rule
from layerspec.spec.yaml_source import SourcePath


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


CUDNN_ONLY = "runs only on an NVIDIA GPU with cuDNN"


def _cudnn_forced(layer: LayerSpec, path: SourcePath) -> list[tuple[SourcePath, str]]:
    """(path, type) of the layer and of each layer it wraps that sets `use_cudnn: true`."""
    # The field's value from the instance's dict: a missing attribute costs pydantic a slow lookup, per layer.
    found = [(path, layer.type)] if layer.__dict__.get("use_cudnn") is True else []
    for key, inner in layer.nested().items():
        found += _cudnn_forced(inner, (*path, key))
    return found


@rule
def cudnn_forced(ctx: Context) -> list[Diagnostic]:
    """`use_cudnn: true` (LSTM, GRU): Keras then refuses to fall back to its own kernel, so the model fails at its
    first call wherever cuDNN cannot run it (on a CPU, or a configuration cuDNN lacks). Valid, so a warning."""
    if ctx.graph is None:
        return []
    problems = []
    holds_none = LayerSpec.nested
    for node in ctx.graph.nodes:
        layer = node.layer
        # Most layers neither have the field nor hold layers: they are not walked (a large spec has 60,000).
        if layer is None or ("use_cudnn" not in layer.__dict__ and type(layer).nested is holds_none):
            continue
        if node.origin is None:
            continue
        for path, type_name in _cudnn_forced(layer, node.path):
            problems.append(
                ctx.warning(
                    (*path, "use_cudnn"),
                    f"{node.label()}: {type_name} with `use_cudnn: true` {CUDNN_ONLY}, and only in a configuration "
                    "cuDNN supports (activation tanh, recurrent_activation sigmoid, no recurrent_dropout, unroll "
                    "false, use_bias true; for GRU reset_after true); elsewhere, a CPU included, it fails at its "
                    "first call; write `use_cudnn: auto` to fall back to Keras's own kernel",
                )
            )
    return problems
