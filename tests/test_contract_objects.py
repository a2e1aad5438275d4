"""Initializers and regularizers written as mappings, held against Keras.

Each mapping's argument names and defaults must be the Keras class's own (so `{type: l2}` is `l2`), and a layer
built from a spec must hold the Keras object with exactly the arguments written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from layerspec.check import check_loaded
from layerspec.cli import app
from layerspec.layers.objects import OBJECT_SPECS, KerasObjectSpec
from layerspec.spec import parse_spec

# Keras's config keys a spec does not write: a seed (train.seed seeds every weight) and the axes VarianceScaling
# reads a fan from on kernels of unusual layout (None: Keras's usual fan).
NOT_WRITTEN = {"seed": None, "input_axes": None, "output_axes": None}


def keras_config(keras: Any, cls: type[KerasObjectSpec], args: dict[str, Any]) -> dict[str, Any]:
    made = getattr(getattr(keras, cls.keras_module), cls.keras_class)(**args)
    return made.get_config()  # type: ignore[no-any-return]


def close(found: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Equal keys and values, floats within float32's precision."""
    if found.keys() != wanted.keys():
        return False
    return all(
        found[k] == pytest.approx(v, rel=1e-6) if isinstance(v, float) else found[k] == v for k, v in wanted.items()
    )


@pytest.mark.keras
@pytest.mark.parametrize("cls", OBJECT_SPECS, ids=[c.type_id() for c in OBJECT_SPECS])
def test_arguments_and_defaults_are_keras_own(keras: Any, cls: type[KerasObjectSpec]) -> None:
    config = keras_config(keras, cls, {})
    written = cls.model_validate({"type": cls.type_id()}).keras_arguments()
    # Keras keeps regularization factors as float32: 0.01 comes back as 0.009999999776482582.
    assert close({k: v for k, v in config.items() if k not in NOT_WRITTEN}, written)
    assert all(config.get(k, v) == v for k, v in NOT_WRITTEN.items())
    if cls.type_id() != "constant":  # Keras knows the id, but builds a Constant only with its value
        assert type(getattr(keras, cls.keras_module).get(cls.type_id())).__name__ == cls.keras_class


WRITTEN = [
    ("Conv2D", "kernel_initializer", {"type": "variance_scaling", "scale": 2.0, "mode": "fan_out"}),
    ("Dense", "kernel_initializer", {"type": "variance_scaling", "scale": 0.25, "distribution": "uniform"}),
    ("Conv2D", "kernel_initializer", {"type": "orthogonal", "gain": 2.0}),
    ("Conv2D", "bias_initializer", {"type": "constant", "value": 0.25}),
    ("DepthwiseConv2D", "depthwise_initializer", {"type": "random_uniform", "minval": -0.5, "maxval": 0.0}),
    ("BatchNormalization", "gamma_initializer", {"type": "random_normal", "mean": 1.0, "stddev": 0.1}),
    ("Embedding", "embeddings_initializer", {"type": "truncated_normal", "stddev": 0.02}),
    ("Conv2D", "kernel_regularizer", {"type": "l2", "l2": 0.0001}),
    ("Dense", "kernel_regularizer", {"type": "orthogonal_regularizer", "factor": 0.1, "mode": "columns"}),
    ("Dense", "bias_regularizer", {"type": "l1l2", "l1": 0.001}),
    ("Conv2D", "activity_regularizer", {"type": "l1", "l1": 0.5}),
]
ARGS = {
    "Conv2D": {"filters": 4, "kernel_size": 3},
    "Dense": {"units": 4},
    "DepthwiseConv2D": {"kernel_size": 3},
    "BatchNormalization": {},
    "Embedding": {"input_dim": 10, "output_dim": 4},
}


@pytest.mark.keras
@pytest.mark.parametrize(("type_name", "key", "value"), WRITTEN, ids=[f"{t}-{v['type']}" for t, _, v in WRITTEN])
def test_a_layer_holds_the_keras_object_written(keras: Any, type_name: str, key: str, value: dict[str, Any]) -> None:
    from layerspec.compile import compile_model

    shape = [12] if type_name == "Embedding" else ([6] if type_name == "Dense" else [8, 8, 3])
    layer = {"type": type_name, "name": "probe", **ARGS[type_name], key: value}
    spec = {"name": "objects", "input": {"shape": shape, **({"dtype": "int32"} if type_name == "Embedding" else {})}}
    text = yaml.safe_dump({**spec, "layers": [layer]}, sort_keys=False)
    checked = check_loaded(parse_spec(text, Path("objects.yaml")))
    built = compile_model(checked).get_layer("probe").get_config()[key]
    cls = next(c for c in OBJECT_SPECS if c.type_id() == value["type"])
    args = {k: v for k, v in value.items() if k != "type"}
    assert built["class_name"] == cls.keras_class and built["module"] == f"keras.{cls.keras_module}"
    assert built["config"] == keras_config(keras, cls, args)
    assert close({k: built["config"][k] for k in args}, args)


@pytest.mark.keras
def test_normal_is_keras_other_name_for_truncated_normal(keras: Any) -> None:
    from layerspec.compile import compile_model

    value = {"type": "variance_scaling", "distribution": "normal"}
    text = yaml.safe_dump(
        {
            "name": "objects",
            "input": {"shape": [6]},
            "layers": [{"type": "Dense", "name": "probe", "units": 4, "kernel_initializer": value}],
        }
    )
    built = compile_model(check_loaded(parse_spec(text, Path("objects.yaml")))).get_layer("probe").get_config()
    assert built["kernel_initializer"]["config"]["distribution"] == "truncated_normal"


def test_the_schema_shows_the_mappings() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    choices = schema["$defs"]["Conv2D"]["properties"]["kernel_initializer"]["oneOf"]
    assert {"$ref": "#/$defs/VarianceScalingSpec"} in choices and "he_normal" in choices[0]["enum"]
    scale = schema["$defs"]["VarianceScalingSpec"]["properties"]["scale"]
    assert scale["exclusiveMinimum"] == 0 and scale["description"]
