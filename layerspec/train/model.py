"""The spec's recipe as Keras objects: the compiled model with its optimizer, loss and metrics, in a precision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from layerspec import recipes
from layerspec.data import data_spec
from layerspec.fused import use_fused_batchnorm
from layerspec.spec import LoadedSpec
from layerspec.spec.train import TrainSpec
from layerspec.train.options import loss_name, metric_names


@contextmanager
def mixed_precision(policy: str) -> Iterator[None]:
    """The layers' dtype policy while the model is built; restored afterwards so the process is left as found."""
    from layerspec.compile import keras_module

    keras = keras_module()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy if policy == "float32" else f"mixed_{policy}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(built: Any, loaded: LoadedSpec, settings: TrainSpec, strategy: Any, outputs: set[str]) -> Any:
    """The built model made ready to train: copied inside the strategy's scope in the training precision, with
    fresh weights drawn from the training seed, then given its optimizer, loss and metrics.

    `built` is the Keras model `build` compiled and verified (or loaded from the run folder); `outputs` names its
    output layers. Its layers are copied, not compiled again from the spec: the copy only gives them the scope's
    variables and the precision's dtype. The starting weights depend on the seed alone, so a spec trained right
    after its build and the same build trained from its run folder start alike (a run trained afresh does not
    continue from its trained weights).
    """
    from layerspec.compile import keras_module

    keras = keras_module()
    keras.utils.set_random_seed(settings.seed)
    inputs = recipes.MetricInputs(data_spec(loaded).labels, settings.from_logits)
    with strategy.scope(), mixed_precision(settings.mixed_precision):
        model = _copy(keras, built, outputs, mixed=settings.mixed_precision != "float32")
        if settings.fused_batchnorm:
            use_fused_batchnorm(model)
        model.compile(
            optimizer=recipes.optimizer(keras, settings.optimizer),
            loss=recipes.loss(keras, loss_name(loaded, settings), settings),
            metrics=[recipes.metric(keras, name, inputs) for name in metric_names(loaded, settings)],
            jit_compile=settings.jit_compile,
        )
        model.optimizer.build(model.trainable_variables)
    if settings.optimizer.use_ema:
        _average_applied_once(model.optimizer)
    return model


def _average_applied_once(optimizer: Any) -> None:
    """Stop `model.fit` from putting the weights' average into the model at the end of every call.

    layerspec calls `fit` once per epoch (for its checkpoints and signals), and Keras's `fit` ends by overwriting
    the weights with their moving average: each epoch would restart from the average. The average is kept up to
    date every step all the same, and `apply_weight_average` puts it into the model once, after the last epoch.
    Only this instance changes; its class, and so the saved optimizer, stays Keras's own.
    """
    optimizer.finalize_variable_values = lambda var_list: None


def apply_weight_average(model: Any) -> None:
    """Overwrite the trainable weights with the optimizer's moving average (what Keras's own `fit` would end with)."""
    optimizer = model.optimizer
    type(optimizer).finalize_variable_values(optimizer, model.trainable_weights)


def _copy(keras: Any, model: Any, outputs: set[str], *, mixed: bool) -> Any:
    """The model again, each layer made anew from its configuration (so with new, seeded weights).

    Under a mixed policy every layer takes the policy, except the output layers, which compute in float32: a
    softmax computed in bfloat16 or float16 rounds small probabilities to exactly 0; the cross-entropy of such an
    example is then clipped and has no gradient, and training stalls with a share of the examples wrong (seen
    with bfloat16 on SIGNS: 79 % instead of 97 %). Keras's mixed-precision guide keeps the last layer in float32.
    """

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        if mixed:
            config.pop("dtype", None)  # the policy in force
            if layer.name in outputs:
                config["dtype"] = "float32"
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=clone)
