"""Rules on the loss and metrics against the model's output: what the last layer produces must be what the loss
reads (probabilities from the activation it expects, or logits with train.from_logits).

Decisions: a classification loss on the wrong activation (a sigmoid head with categorical cross-entropy, a softmax
with binary cross-entropy, relu or tanh with either) is an error, as is an output without activation that is not
declared as logits; from_logits on a softmax or sigmoid head (squashed twice) or with a regression loss (ignored)
is an error. A regression loss on a softmax head is only a warning: fitting probabilities with a squared error (a
Brier score) is legitimate, but more often the head was left over from a classifier.
"""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.graph import Node
from layerspec.layers.base import split_ref
from layerspec.recipes import LOSSES, METRICS
from layerspec.rules.base import Context, rule
from layerspec.rules.settings import watched_monitors
from layerspec.spec.train import LOSS_FOR_LABELS
from layerspec.spec.yaml_source import SourcePath

# Layers that hand their input's values on unchanged (dropout is the identity at inference): the activation that
# matters is the one before them.
_PASS_THROUGH = frozenset(
    {
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "AlphaDropout",
        "Flatten",
        "Reshape",
        "Identity",
        "ActivityRegularization",
    }
)
_LINEAR = frozenset({None, "linear"})


def final_activation(ctx: Context, node: Node) -> tuple[str | None, Node] | None:
    """The activation the output's values come out of ('linear' or None for logits), and the layer applying it;
    None when the last layer that changes values is one whose output range this rule does not know."""
    by_name = {n.name: n for n in ctx.graph.nodes} if ctx.graph is not None else {}
    while node.layer is not None:
        if node.layer.softmax_axes() is not None:
            return "softmax", node
        if node.type == "Activation" or "activation" in type(node.layer).model_fields:
            value = getattr(node.layer, "activation", None)
            return (str(value) if value is not None else None), node
        if node.type not in _PASS_THROUGH or len(node.inputs) != 1 or node.inputs[0] not in by_name:
            return None
        node = by_name[split_ref(node.inputs[0])[0]]
    return None


def _where(node: Node) -> SourcePath:
    if node.layer is not None and "activation" in type(node.layer).model_fields and node.origin is not None:
        return node.origin.field_path("activation")
    return node.path


@rule
def loss_fits_output(ctx: Context) -> list[Diagnostic]:
    """The loss reads what the output layer produces: probabilities of the activation it expects, or logits.

    Only for a spec that says how it trains (a data: or train: section): a spec written to check a model's
    shapes alone is not held to the default loss."""
    if ctx.graph is None or ctx.data is None or ctx.train is None:
        return []
    if ctx.loaded.spec.data is None and ctx.loaded.spec.train is None:
        return []
    name = ctx.train.loss or LOSS_FOR_LABELS[ctx.data.labels]
    by_name = {n.name: n for n in ctx.graph.nodes}
    problems = []
    for output in (split_ref(o)[0] for o in ctx.graph.outputs):
        found = final_activation(ctx, by_name[output]) if output in by_name else None
        if found is not None:
            problems.extend(_mismatch(ctx, name, found[0], found[1]))
    return problems


def _mismatch(ctx: Context, name: str, activation: str | None, node: Node) -> list[Diagnostic]:
    assert ctx.train is not None
    loss, logits = LOSSES[name], ctx.train.from_logits
    head = "no activation (logits)" if activation in _LINEAR else f"activation '{activation}'"
    said = f"{node.label()} ends with {head}, but the loss is {name}"
    if loss.task == "regression":
        if logits:
            return [
                ctx.error(
                    ("train", "from_logits"),
                    f"from_logits applies to cross-entropy losses; {name} would ignore it: remove train.from_logits",
                )
            ]
        if activation == "softmax":
            return [
                ctx.warning(
                    _where(node),
                    f"{said}, a regression loss: a softmax makes the outputs sum to 1; "
                    "for regression remove the activation, for classification use a cross-entropy loss",
                )
            ]
        return []
    if activation in _LINEAR:
        if logits:
            return []
        return [
            ctx.error(
                _where(node),
                f"{said}, which reads probabilities: set train.from_logits: true, or give "
                f"the layer activation: {loss.activation}",
            )
        ]
    if activation == loss.activation:
        if not logits:
            return []
        return [
            ctx.error(
                ("train", "from_logits"),
                f"{said} with from_logits: the {activation} would be applied "
                f"twice: remove train.from_logits, or the layer's activation",
            )
        ]
    fitting = [n for n, e in LOSSES.items() if e.activation == activation and ctx.data and ctx.data.labels in e.labels]
    hint = f"use loss {fitting[0]}, or " if fitting else ""
    return [
        ctx.error(
            _where(node),
            f"{said}, which reads {loss.activation} probabilities: {hint}give the layer activation: {loss.activation}",
        )
    ]


@rule
def metrics_fit_loss(ctx: Context) -> list[Diagnostic]:
    """Accuracy-like metrics count classes: a regression loss has none."""
    if ctx.data is None or ctx.train is None or "metrics" not in ctx.train.model_fields_set:
        return []
    name = ctx.train.loss or LOSS_FOR_LABELS[ctx.data.labels]
    task = LOSSES[name].task
    return [
        ctx.error(
            ("train", "metrics", i),
            f"metric '{metric}' counts correct classes, but the loss {name} is a regression loss: use mae or mse",
        )
        for i, metric in enumerate(ctx.train.metrics)
        if task not in METRICS[metric].tasks
    ]


@rule
def monitors_are_logged(ctx: Context) -> list[Diagnostic]:
    """A watched figure other than the loss is logged only when its metric is in train.metrics (by default
    accuracy for a classification loss, mae for a regression one)."""
    if ctx.data is None or ctx.train is None:
        return []
    if "metrics" in ctx.train.model_fields_set:
        logged = list(ctx.train.metrics)
    else:
        task = LOSSES[ctx.train.loss or LOSS_FOR_LABELS[ctx.data.labels]].task
        logged = ["mae"] if task == "regression" else list(ctx.train.metrics)
    problems = []
    for where, monitor in watched_monitors(ctx.train).items():
        figure = monitor.removeprefix("val_")
        if figure not in ("loss", *logged):
            loss = monitor.removesuffix(figure) + "loss"
            problems.append(
                ctx.error(
                    where,
                    f"'{monitor}' is not logged: train.metrics is [{', '.join(logged)}]; add {figure} to "
                    f"train.metrics or watch {loss}",
                )
            )
    return problems
