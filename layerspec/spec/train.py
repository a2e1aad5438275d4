"""The `train:` section of a spec: the training recipe.

Every choice maps onto a Keras object (optimizer, schedule, loss, callbacks) or a TensorFlow setting (determinism,
mixed precision, XLA, distribution strategy); `layerspec.train` does the mapping.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator

from layerspec.spec.base import StrictModel

MAX_EPOCHS = 100_000
MAX_SEED = 2**31 - 1  # what every seed TensorFlow and NumPy take can hold
LearningRate = Annotated[float, Field(gt=0.0, le=10.0)]
Epochs = Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
Monitor = Literal[
    "val_loss",
    "val_accuracy",
    "loss",
    "accuracy",
    "val_mae",
    "mae",
    "val_mse",
    "mse",
    "val_auc",
    "auc",
    "val_binary_accuracy",
    "binary_accuracy",
]
LossName = Literal[
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
]
# The default loss of each label encoding (data.labels); `values` (targets fed as stored) defaults to regression.
LOSS_FOR_LABELS: dict[str, LossName] = {
    "one_hot": "categorical_crossentropy",
    "sparse": "sparse_categorical_crossentropy",
    "values": "mean_squared_error",
}


# Other names Keras accepts for the same choice (its `get` functions take class names and a few short forms), so a
# Keras user's `optimizer: Adam` or `metrics: [acc]` means what it means in `model.compile`.
OPTIMIZER_ALIASES = {"Adam": "adam", "AdamW": "adamw", "SGD": "sgd", "RMSprop": "rmsprop"}
LOSS_ALIASES = {
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
}
# Keras's "accuracy" is the categorical or the sparse one as the labels need, so both named forms mean it here.
METRIC_ALIASES = {
    "acc": "accuracy",
    "categorical_accuracy": "accuracy",
    "sparse_categorical_accuracy": "accuracy",
    "CategoricalAccuracy": "accuracy",
    "SparseCategoricalAccuracy": "accuracy",
}


def _alias(value: Any, aliases: dict[str, str]) -> Any:
    return aliases.get(value, value) if isinstance(value, str) else value


OptimizerName = Literal["adam", "adamw", "sgd", "rmsprop"]


class OptimizerSpec(StrictModel):
    """The optimizer and its learning rate (the schedule's starting value)."""

    type: OptimizerName = Field(default="adam", description="Keras optimizer.")
    learning_rate: LearningRate = Field(default=0.001, description="Initial learning rate.")
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(default=0.0, description="Momentum (sgd, rmsprop).")
    nesterov: bool = Field(default=False, description="Nesterov momentum (sgd).")
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None, description="Decoupled weight decay (adamw default 0.004; others none)."
    )
    clipnorm: Annotated[float, Field(gt=0.0)] | None = Field(default=None, description="Clip gradients' norm.")
    use_ema: bool = Field(
        default=False,
        description="Keep an exponential moving average of the weights, updated every step; the trained model gets "
        "the average (the per-epoch validation figures are those of the raw weights, as in Keras).",
    )
    ema_momentum: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.99, description="Share of the average kept at each step (use_ema): 0.99 spans about 100 steps."
    )

    @field_validator("type", mode="before")
    @classmethod
    def _keras_name(cls, value: Any) -> Any:
        return _alias(value, OPTIMIZER_ALIASES)


class ScheduleSpec(StrictModel):
    """How the learning rate changes from epoch to epoch."""

    type: Literal["constant", "cosine", "exponential", "step", "reduce_on_plateau"] = Field(
        default="constant", description="Schedule; the rate is set at the start of each epoch."
    )
    warmup_epochs: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=0, description="Epochs of linear warm-up from a tenth of the rate (cosine, exponential, step)."
    )
    min_learning_rate: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        default=0.0, description="Floor of the rate (cosine's end value, reduce_on_plateau's minimum)."
    )
    decay_rate: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        default=0.5, description="Factor per epoch (exponential), per step (step) or per plateau."
    )
    step_epochs: Annotated[int, Field(ge=1, le=100_000)] = Field(
        default=10, description="Epochs between two steps (step)."
    )
    monitor: Monitor = Field(default="val_loss", description="What reduce_on_plateau watches.")
    patience: Annotated[int, Field(ge=0, le=100_000)] = Field(
        default=3, description="Epochs without improvement before the rate is reduced (reduce_on_plateau)."
    )


class EarlyStoppingSpec(StrictModel):
    """Stop when the monitored value stops improving."""

    monitor: Monitor = Field(default="val_loss", description="Value watched.")
    patience: Annotated[int, Field(ge=0, le=100_000)] = Field(default=5, description="Epochs without improvement.")
    min_delta: Annotated[float, Field(ge=0.0)] = Field(default=0.0, description="Smallest change that counts.")


class KeepSpec(StrictModel):
    """Which weights end up in model.keras."""

    weights: Literal["last", "best"] = Field(default="last", description="The last epoch's or the best epoch's.")
    monitor: Monitor = Field(
        default="val_loss",
        description="What 'best' means (lowest loss, mae or mse; highest accuracy or auc); a metric must be in "
        "train.metrics.",
    )


class StrategySpec(StrictModel):
    """tf.distribute strategy."""

    type: Literal["default", "mirrored", "multi_worker"] = Field(
        default="default",
        description="'mirrored': all local GPUs, else all logical CPU devices; 'multi_worker': machines named in "
        "TF_CONFIG.",
    )
    devices: Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=1, max_length=1024)] | None = (
        Field(default=None, description="Devices for 'mirrored', e.g. ['/cpu:0', '/cpu:1'].")
    )


class ThreadsSpec(StrictModel):
    """TensorFlow's thread pools (null: TensorFlow's choice)."""

    intra_op: Annotated[int, Field(ge=1, le=1024)] | None = Field(default=None, description="Threads inside an op.")
    inter_op: Annotated[int, Field(ge=1, le=1024)] | None = Field(default=None, description="Ops run at once.")


MetricName = Literal[
    "accuracy", "top_2_accuracy", "top_3_accuracy", "top_5_accuracy", "binary_accuracy", "auc", "mae", "mse"
]


def _default_metrics() -> list[MetricName]:
    return ["accuracy"]


class AugmentSpec(StrictModel):
    """Random changes to the training images, made in the input pipeline (validation and test images untouched).

    Augmentation layers in the spec (RandomFlip, RandomTranslation, ...) do the same inside the model; this section
    is for when the model's layers must stay exactly as written.
    """

    flip: Literal["none", "horizontal"] = Field(default="none", description="Mirror images left-right at random.")
    translate: Annotated[int, Field(ge=0, le=1024)] = Field(
        default=0, description="Shift images by up to this many pixels in each direction (edges reflected)."
    )
    brightness: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        default=0.0, description="Add a random offset in [-brightness, brightness] to the scaled pixel values."
    )
    rotate: Annotated[float, Field(ge=0.0, le=0.5)] = Field(
        default=0.0,
        description="Rotate images about their centre by up to this fraction of a full turn either way "
        "(as keras.layers.RandomRotation's factor; edges reflected).",
    )
    zoom: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0, description="Scale images about their centre by a random factor in [1 - zoom, 1 + zoom]."
    )

    @property
    def active(self) -> bool:
        return self.flip != "none" or self.translate > 0 or self.brightness > 0 or self.rotate > 0 or self.zoom > 0


def _name_or_object(schema: dict[str, Any]) -> None:
    """The JSON Schema of `train.optimizer` takes what `TrainSpec._optimizer_name` does: a name alone or the object."""
    schema["anyOf"] = [{"type": "string", "enum": list(get_args(OptimizerName))}, {"$ref": schema.pop("$ref")}]


class TrainSpec(StrictModel):
    """The training recipe."""

    optimizer: OptimizerSpec = Field(
        default_factory=OptimizerSpec,
        description="Optimizer and learning rate; a name alone (`optimizer: adam`) means `{type: adam}`.",
        json_schema_extra=_name_or_object,
    )
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec, description="Learning-rate schedule.")
    loss: LossName | None = Field(
        default=None,
        description="Loss; default: matches the data section's label encoding. Keras's class names "
        "(CategoricalCrossentropy) are accepted too.",
    )
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0, description="Label smoothing (categorical and binary cross-entropy only)."
    )
    from_logits: bool = Field(
        default=False,
        description="The model outputs logits (no final softmax or sigmoid): the cross-entropy losses, auc and "
        "binary_accuracy read them as such. Required for a classification loss on an output without activation.",
    )
    huber_delta: Annotated[float, Field(gt=0.0, le=1e6)] = Field(
        default=1.0, description="Where the huber loss turns from quadratic to linear."
    )
    metrics: Annotated[list[MetricName], Field(max_length=8)] = Field(
        default_factory=_default_metrics,
        description="Metrics reported per epoch; Keras's `acc`, `categorical_accuracy` and "
        "`sparse_categorical_accuracy` mean `accuracy`.",
    )
    batch_size: Annotated[int, Field(ge=1, le=65536)] = Field(default=64, description="Examples per batch.")
    epochs: Epochs = Field(default=10, description="Number of epochs.")
    early_stopping: EarlyStoppingSpec | None = Field(default=None, description="Stop early (null: never).")
    keep: KeepSpec = Field(default_factory=KeepSpec, description="Weights saved as the trained model.")
    augment: AugmentSpec = Field(default_factory=AugmentSpec, description="Augmentation in the input pipeline.")
    recalibrate_batchnorm: bool = Field(
        default=False,
        description="After training, recompute every BatchNormalization layer's moving mean and variance over the "
        "training split with the kept weights ('precise BN'): the moving averages lag behind fast-changing weights.",
    )
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = Field(
        default=0, description="Seed of weights, dropout, augmentation and shuffling."
    )
    deterministic: bool = Field(
        default=False, description="Reproducible results (enable_op_determinism): same seed, same metrics."
    )
    mixed_precision: Literal["float32", "bfloat16", "float16", "auto"] = Field(
        default="float32",
        description="Compute dtype of the layers (variables stay float32). 'auto' picks float16 on a GPU, bfloat16 "
        "where the CPU has native bfloat16 units (AMX or AVX512_BF16), float32 otherwise; train.json records the "
        "choice and why.",
    )
    jit_compile: bool = Field(default=False, description="Compile the training step with XLA.")
    tensorboard: bool = Field(
        default=False,
        description="Log each epoch's figures and learning rate, and the model's graph, to TensorBoard event files "
        "in the run folder's tensorboard/ (Keras's TensorBoard callback); `train --tensorboard` sets it too.",
    )
    fused_batchnorm: bool = Field(
        default=True,
        description="Train BatchNormalization layers (channels last) with TensorFlow's fused kernel: the same "
        "weights and update rule in one operation instead of about ten; the saved model keeps Keras's own layer.",
    )
    strategy: StrategySpec = Field(default_factory=StrategySpec, description="Distribution strategy.")
    threads: ThreadsSpec = Field(default_factory=ThreadsSpec, description="TensorFlow thread pools.")

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer_name(cls, value: Any) -> Any:
        """`optimizer: adam`, as Keras's compile takes it, is the optimizer of that type with its defaults."""
        return {"type": value} if isinstance(value, str) else value

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_alias(cls, value: Any) -> Any:
        return _alias(value, LOSS_ALIASES)

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_aliases(cls, value: Any) -> Any:
        return [_alias(item, METRIC_ALIASES) for item in value] if isinstance(value, list) else value
