"""The spec's recipe as Keras objects: the compiled model with its optimizer, loss and metrics, in a precision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from layerspec import recipes
from layerspec.check import check_loaded
from layerspec.data import data_spec
from layerspec.fused import use_fused_batchnorm
from layerspec.spec import LoadedSpec
from layerspec.spec.train import TrainSpec
from layerspec.train.options import loss_name


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


def build_model(loaded: LoadedSpec, settings: TrainSpec, strategy: Any) -> Any:
    """Compile the spec into a Keras model and attach optimizer, loss and metrics, inside the strategy's scope."""
    from layerspec.compile import compile_model, keras_module

    keras = keras_module()
    with strategy.scope(), mixed_precision(settings.mixed_precision):
        checked = check_loaded(loaded)
        model = compile_model(checked)
        if settings.mixed_precision != "float32":
            model = _float32_outputs(keras, model, set(checked.graph.outputs))
        if settings.fused_batchnorm:
            use_fused_batchnorm(model)
        model.compile(
            optimizer=recipes.optimizer(keras, settings.optimizer),
            loss=recipes.loss(keras, loss_name(loaded, settings), settings),
            metrics=[recipes.metric(keras, name, data_spec(loaded).labels) for name in settings.metrics],
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


def _float32_outputs(keras: Any, model: Any, outputs: set[str]) -> Any:
    """The model again with its output layers computing in float32 (the others keep the mixed policy).

    A softmax computed in bfloat16 or float16 rounds small probabilities to exactly 0; the cross-entropy of such an
    example is then clipped and has no gradient, and training stalls with a share of the examples wrong (seen
    with bfloat16 on SIGNS: 79 % instead of 97 %). Keras's mixed-precision guide keeps the last layer in float32.
    """

    def clone(layer: Any) -> Any:
        if layer.name not in outputs:
            return layer.__class__.from_config(layer.get_config())
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    return keras.models.clone_model(model, clone_function=clone)
