"""The training recipe's registries: optimizers, learning-rate schedules, losses and metrics (imports no TensorFlow).

Each entry is a name that the spec's `train:` section accepts and what it stands for. Optimizers, losses and metrics
are Keras objects, built from the Keras module (passed in, so that importing this module imports no TensorFlow) and
the settings; a schedule is layerspec's own rule for the learning rate of each epoch, since the epoch loop sets the
rate itself. `layerspec.train` looks every name up here, and a name without an entry is an error, never another
entry: tests/test_train_settings.py holds the spec's Literal choices equal to these registries' keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from layerspec.spec.train import OptimizerSpec, ScheduleSpec, TrainSpec

S = TypeVar("S")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=_Named)


@dataclass(frozen=True)
class Recipe(Generic[S]):
    """A name the spec accepts and the builder of its Keras object: build(keras, settings)."""

    name: str
    build: Callable[[Any, S], Any]


def _registry(*entries: E) -> dict[str, E]:
    registry: dict[str, E] = {}
    for entry in entries:
        if entry.name in registry:
            raise ValueError(f"{entry.name!r} is registered twice")
        registry[entry.name] = entry
    return registry


def lookup(registry: dict[str, E], kind: str, name: str) -> E:
    """The entry for `name`; a name the spec accepted but no entry has is a bug in layerspec, said plainly."""
    if name not in registry:
        raise LookupError(f"no {kind} named {name!r} in layerspec.recipes (known: {', '.join(registry)})")
    return registry[name]


# ---- optimizers ---------------------------------------------------------------------------------------------------


def _common(spec: OptimizerSpec) -> dict[str, Any]:
    return {
        "learning_rate": spec.learning_rate,
        "clipnorm": spec.clipnorm,
        "use_ema": spec.use_ema,
        "ema_momentum": spec.ema_momentum,
    }


def _adam(keras: Any, spec: OptimizerSpec) -> Any:
    return keras.optimizers.Adam(weight_decay=spec.weight_decay, **_common(spec))


def _adamw(keras: Any, spec: OptimizerSpec) -> Any:
    decay = spec.weight_decay if spec.weight_decay is not None else 0.004
    return keras.optimizers.AdamW(weight_decay=decay, **_common(spec))


def _sgd(keras: Any, spec: OptimizerSpec) -> Any:
    return keras.optimizers.SGD(
        momentum=spec.momentum, nesterov=spec.nesterov, weight_decay=spec.weight_decay, **_common(spec)
    )


def _rmsprop(keras: Any, spec: OptimizerSpec) -> Any:
    return keras.optimizers.RMSprop(momentum=spec.momentum, weight_decay=spec.weight_decay, **_common(spec))


OPTIMIZERS: dict[str, Recipe[OptimizerSpec]] = _registry(
    Recipe("adam", _adam), Recipe("adamw", _adamw), Recipe("sgd", _sgd), Recipe("rmsprop", _rmsprop)
)


def optimizer(keras: Any, spec: OptimizerSpec) -> Any:
    return lookup(OPTIMIZERS, "optimizer", spec.type).build(keras, spec)


# ---- losses -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss(Recipe[TrainSpec]):
    # Whether the loss applies train.label_smoothing (Keras's sparse cross-entropy has none: it would be ignored).
    smooths_labels: bool = False
    # The label encodings (data.labels) whose targets the loss reads.
    labels: tuple[str, ...] = ("values",)
    # "classification" (class probabilities, or logits with train.from_logits) or "regression" (values).
    task: str = "regression"
    # The final activation the loss reads probabilities from (None: any, a regression loss).
    activation: str | None = None


def _cce(keras: Any, s: TrainSpec) -> Any:
    return keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing, from_logits=s.from_logits)


def _bce(keras: Any, s: TrainSpec) -> Any:
    return keras.losses.BinaryCrossentropy(label_smoothing=s.label_smoothing, from_logits=s.from_logits)


LOSSES: dict[str, Loss] = _registry(
    Loss("categorical_crossentropy", _cce, True, ("one_hot",), "classification", "softmax"),
    Loss(
        "sparse_categorical_crossentropy",
        lambda keras, s: keras.losses.SparseCategoricalCrossentropy(from_logits=s.from_logits),
        False,
        ("sparse",),
        "classification",
        "softmax",
    ),
    Loss("binary_crossentropy", _bce, True, ("values", "one_hot"), "classification", "sigmoid"),
    Loss("mean_squared_error", lambda keras, s: keras.losses.MeanSquaredError()),
    Loss("mean_absolute_error", lambda keras, s: keras.losses.MeanAbsoluteError()),
    Loss("huber", lambda keras, s: keras.losses.Huber(delta=s.huber_delta)),
)


def loss(keras: Any, name: str, settings: TrainSpec) -> Any:
    return lookup(LOSSES, "loss", name).build(keras, settings)


# ---- metrics: built from the Keras module, the label encoding (data.labels) and train.from_logits -----------------


@dataclass(frozen=True)
class MetricInputs:
    labels: str
    from_logits: bool = False


@dataclass(frozen=True)
class Metric(Recipe[MetricInputs]):
    # The loss tasks the metric means something for ("classification", "regression").
    tasks: tuple[str, ...] = ("classification",)


def _top_k(k: int) -> Metric:
    name = f"top_{k}_accuracy"

    def build(keras: Any, inputs: MetricInputs) -> Any:
        if inputs.labels == "one_hot":
            return keras.metrics.TopKCategoricalAccuracy(k=k, name=name)
        return keras.metrics.SparseTopKCategoricalAccuracy(k=k, name=name)

    return Metric(name, build)


def _binary_accuracy(keras: Any, inputs: MetricInputs) -> Any:
    # A logit of 0 is a probability of 0.5.
    return keras.metrics.BinaryAccuracy(threshold=0.0 if inputs.from_logits else 0.5, name="binary_accuracy")


# Keras's "accuracy" picks the categorical or the sparse variant from the labels and the loss itself.
METRICS: dict[str, Metric] = _registry(
    Metric("accuracy", lambda keras, inputs: "accuracy"),
    _top_k(2),
    _top_k(3),
    _top_k(5),
    Metric("binary_accuracy", _binary_accuracy),
    Metric("auc", lambda keras, inputs: keras.metrics.AUC(from_logits=inputs.from_logits, name="auc")),
    Metric("mae", lambda keras, inputs: keras.metrics.MeanAbsoluteError(name="mae"), ("classification", "regression")),
    Metric("mse", lambda keras, inputs: keras.metrics.MeanSquaredError(name="mse"), ("classification", "regression")),
)


def metric(keras: Any, name: str, inputs: MetricInputs) -> Any:
    return lookup(METRICS, "metric", name).build(keras, inputs)


# ---- learning-rate schedules --------------------------------------------------------------------------------------


class Figures(Protocol):
    """One epoch's figures by name: a run's `Epoch`, or a plain mapping."""

    def __getitem__(self, name: str, /) -> Any: ...


History = Sequence[Figures]


@dataclass(frozen=True)
class Schedule:
    """rate(schedule, base, step, span, history): the rate `step` epochs after any warm-up, of `span` such epochs."""

    name: str
    rate: Callable[[ScheduleSpec, float, int, int, History], float]
    # Whether the first warmup_epochs rise linearly from a tenth of the rate first.
    warms_up: bool = True
    # Whether the rate depends on schedule.monitor (which then needs the figure it names, e.g. validation data).
    watches_monitor: bool = False


def _cosine(schedule: ScheduleSpec, base: float, step: int, span: int, history: History) -> float:
    low = schedule.min_learning_rate
    return low + (base - low) * 0.5 * (1 + math.cos(math.pi * step / max(span, 1)))


def _exponential(schedule: ScheduleSpec, base: float, step: int, span: int, history: History) -> float:
    return max(base * schedule.decay_rate**step, schedule.min_learning_rate)


def _step(schedule: ScheduleSpec, base: float, step: int, span: int, history: History) -> float:
    return max(base * schedule.decay_rate ** (step // schedule.step_epochs), schedule.min_learning_rate)


def _plateau(schedule: ScheduleSpec, base: float, step: int, span: int, history: History) -> float:
    if not history:
        return base
    rate = float(history[-1]["learning_rate"])
    # Epochs since the later of the last improvement and the last reduction (Keras's ReduceLROnPlateau rule).
    since_reduction = 0
    for record in reversed(history):
        if record["learning_rate"] != rate:
            break
        since_reduction += 1
    waited = min(epochs_without_improvement([r[schedule.monitor] for r in history], schedule.monitor), since_reduction)
    if waited > 0 and waited >= schedule.patience:
        return max(rate * schedule.decay_rate, schedule.min_learning_rate)
    return rate


SCHEDULES: dict[str, Schedule] = _registry(
    Schedule("constant", lambda schedule, base, step, span, history: base, warms_up=False),
    Schedule("cosine", _cosine),
    Schedule("exponential", _exponential),
    Schedule("step", _step),
    Schedule("reduce_on_plateau", _plateau, warms_up=False, watches_monitor=True),
)


def learning_rate(schedule: ScheduleSpec, base: float, epoch: int, total: int, history: History) -> float:
    """The rate for epoch `epoch` (0-based): a function of the schedule, the epoch and the history only."""
    entry = lookup(SCHEDULES, "schedule", schedule.type)
    warmup = schedule.warmup_epochs if entry.warms_up else 0
    if epoch < warmup:
        return base * (0.1 + 0.9 * epoch / warmup)
    return entry.rate(schedule, base, epoch - warmup, total - warmup, history)


# ---- monitored figures --------------------------------------------------------------------------------------------


# Figures where lower is better (losses and errors); the others (accuracies, auc) are better higher.
LOWER_IS_BETTER = ("loss", "mae", "mse")


def better(value: float, best: float, monitor: str, min_delta: float = 0.0) -> bool:
    if monitor.removeprefix("val_") in LOWER_IS_BETTER:
        return value < best - min_delta
    return value > best + min_delta


def epochs_without_improvement(values: list[float], monitor: str, min_delta: float = 0.0) -> int:
    best, wait = None, 0
    for value in values:
        if best is None or better(value, best, monitor, min_delta):
            best, wait = value, 0
        else:
            wait += 1
    return wait
