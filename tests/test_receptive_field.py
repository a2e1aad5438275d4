"""Receptive fields and effective strides, without TensorFlow: the figures Araujo, Norris and Sim publish
("Computing Receptive Fields of Convolutional Neural Networks", Distill 2019) for VGG-16 (212), ResNet-50 v1 (483)
and MobileNet v1 (315), each layer type's rule, and the safe default for a type that declares none.
tests/test_receptive_field_keras.py holds the rules against gradients of built Keras models."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml
from pydantic import Field

from layerspec.check import check_file
from layerspec.layers import REGISTRY, LayerSpec
from layerspec.layers.base import ACTIVATION, AUGMENTATION, FieldRule
from layerspec.receptive import ReceptiveField, input_field, layer_field
from layerspec.shapes import ModelSummary

SPECS = Path(__file__).resolve().parent.parent / "specs"


def summary_of(tmp_path: Path, spec: dict[str, Any]) -> ModelSummary:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return check_file(path).summary


def vgg16() -> dict[str, Any]:
    """keras.applications.VGG16's feature extractor: five stages of 3x3 convolutions, each closed by a 2x2 pool."""
    layers: list[dict[str, Any]] = []
    for stage, (convs, filters) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
        for i in range(1, convs + 1):
            conv = {"type": "Conv2D", "name": f"block{stage}_conv{i}", "filters": filters, "kernel_size": 3}
            layers.append({**conv, "padding": "same", "activation": "relu"})
        layers.append({"type": "MaxPooling2D", "name": f"block{stage}_pool", "pool_size": 2, "strides": 2})
    return {"name": "vgg16", "input": {"shape": [224, 224, 3]}, "layers": layers}


def mobilenet_v1() -> dict[str, Any]:
    """keras.applications.MobileNet (alpha 1): a strided 3x3 stem, then 13 depthwise-separable blocks, the strided
    ones padded by ZeroPadding2D((0, 1), (0, 1)) and convolved 'valid' as Keras does."""
    layers: list[dict[str, Any]] = [
        {"type": "Conv2D", "name": "conv1", "filters": 32, "kernel_size": 3, "strides": 2, "padding": "same"},
        {"type": "BatchNormalization", "name": "conv1_bn"},
        {"type": "ReLU", "name": "conv1_relu", "max_value": 6.0},
    ]
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5, (1024, 2), (1024, 1)]
    for i, (filters, stride) in enumerate(blocks, start=1):
        if stride == 2:
            layers.append({"type": "ZeroPadding2D", "name": f"conv_pad_{i}", "padding": [[0, 1], [0, 1]]})
        padding = "same" if stride == 1 else "valid"
        layers += [
            {
                "type": "DepthwiseConv2D",
                "name": f"conv_dw_{i}",
                "kernel_size": 3,
                "strides": stride,
                "padding": padding,
            },
            {"type": "BatchNormalization", "name": f"conv_dw_{i}_bn"},
            {"type": "ReLU", "name": f"conv_dw_{i}_relu", "max_value": 6.0},
            {"type": "Conv2D", "name": f"conv_pw_{i}", "filters": filters, "kernel_size": 1},
            {"type": "BatchNormalization", "name": f"conv_pw_{i}_bn"},
            {"type": "ReLU", "name": f"conv_pw_{i}_relu", "max_value": 6.0},
        ]
    layers += [{"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1000, "activation": "softmax"}]
    return {"name": "mobilenet", "input": {"shape": [224, 224, 3]}, "layers": layers}


def test_vgg16_sees_212_pixels(tmp_path: Path) -> None:
    summary = summary_of(tmp_path, vgg16())
    pool5 = summary.record("block5_pool").to_json()
    assert (pool5["receptive_field"], pool5["effective_stride"]) == ([212, 212], [32, 32])
    assert summary.record("block1_conv2").field.sizes() == [5, 5]


def test_resnet50_v1_sees_483_pixels() -> None:
    summary = check_file(SPECS / "resnet50.yaml").summary
    last = summary.record("conv5_block3_out").to_json()
    assert (last["receptive_field"], last["effective_stride"]) == ([483, 483], [32, 32])
    # After global average pooling and the classifier the question has no meaning.
    assert summary.record("avg_pool").to_json()["receptive_field"] is None
    assert summary.record("avg_pool").field.kind == "none"


def test_mobilenet_v1_sees_315_pixels(tmp_path: Path) -> None:
    summary = summary_of(tmp_path, mobilenet_v1())
    last = summary.record("conv_pw_13_relu").to_json()
    assert (last["receptive_field"], last["effective_stride"]) == ([315, 315], [32, 32])


def image_model(*layers: dict[str, Any], shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": "m", "input": {"shape": shape or [32, 32, 3]}, "layers": list(layers)}


@pytest.mark.parametrize(
    ("layer", "field", "stride"),
    [
        ({"type": "Conv2D", "filters": 2, "kernel_size": [3, 5], "strides": [1, 2]}, [3, 5], [1, 2]),
        ({"type": "Conv2D", "filters": 2, "kernel_size": 3, "dilation_rate": [2, 3]}, [5, 7], [1, 1]),
        ({"type": "SeparableConv2D", "filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2}, [5, 5], [2, 2]),
        ({"type": "AveragePooling2D", "pool_size": 3, "strides": 2}, [3, 3], [2, 2]),
        ({"type": "MaxPooling2D"}, [2, 2], [2, 2]),
        ({"type": "ZeroPadding2D", "padding": 4}, [1, 1], [1, 1]),
        ({"type": "Cropping2D", "cropping": 2}, [1, 1], [1, 1]),
        ({"type": "UpSampling2D", "size": [2, 4]}, [1, 1], [0.5, 0.25]),
        ({"type": "UpSampling2D", "interpolation": "bilinear"}, [2, 2], [0.5, 0.5]),
        # 5 taps every 2 output positions: at most 3 land on input positions.
        ({"type": "Conv2DTranspose", "filters": 2, "kernel_size": 5, "strides": 2}, [3, 3], [0.5, 0.5]),
        ({"type": "LayerNormalization"}, [1, 1], [1, 1]),
        ({"type": "Softmax"}, [1, 1], [1, 1]),
        ({"type": "Dense", "units": 3}, [1, 1], [1, 1]),
    ],
)
def test_one_layer_rule(tmp_path: Path, layer: dict[str, Any], field: list[int], stride: list[float]) -> None:
    summary = summary_of(tmp_path, image_model({**layer, "name": "x"}))
    entry = summary.record("x").to_json()
    assert (entry["receptive_field"], entry["effective_stride"]) == (field, stride)


def test_conv1d_has_one_axis(tmp_path: Path) -> None:
    spec = image_model(
        {"type": "Conv1D", "filters": 2, "kernel_size": 4, "dilation_rate": 2, "padding": "causal"},
        {"type": "MaxPooling1D", "name": "x", "pool_size": 3},
        shape=[40, 2],
    )
    assert summary_of(tmp_path, spec).record("x").to_json()["receptive_field"] == [9]


def test_fractional_strides_round_the_field_up(tmp_path: Path) -> None:
    spec = image_model({"type": "UpSampling2D"}, {"type": "Conv2D", "name": "x", "filters": 2, "kernel_size": 4})
    field = summary_of(tmp_path, spec).record("x").field
    # 1 + 3 * 1/2 = 2.5: some output positions read 3 input rows, none more.
    assert field.size == (Fraction(5, 2),) * 2
    assert field.sizes() == [3, 3]


@pytest.mark.parametrize(
    ("layer", "kind"),
    [
        ({"type": "LayerNormalization", "axis": [1, 2, 3]}, "global"),
        ({"type": "Softmax", "axis": [1, 2]}, "global"),
        ({"type": "GlobalMaxPooling2D", "keepdims": True}, "global"),
        ({"type": "GlobalMaxPooling2D"}, "none"),
        ({"type": "Flatten"}, "none"),
        ({"type": "Reshape", "target_shape": [32, 96]}, "unknown"),
    ],
)
def test_layers_without_a_number(tmp_path: Path, layer: dict[str, Any], kind: str) -> None:
    summary = summary_of(tmp_path, image_model({**layer, "name": "x"}, {"type": "Dense", "name": "after", "units": 2}))
    assert summary.record("x").field.kind == kind
    # Whatever follows inherits it (a Dense on a vector has no positions either).
    assert summary.record("after").field.kind == ("none" if kind == "none" else kind)
    assert summary.record("x").to_json()["receptive_field"] is None


def test_merge_takes_the_largest_field(tmp_path: Path) -> None:
    spec = image_model(
        {"type": "Conv2D", "name": "a", "filters": 2, "kernel_size": 3, "padding": "same"},
        {"type": "Conv2D", "name": "b", "filters": 2, "kernel_size": 7, "padding": "same", "inputs": "input"},
        {"type": "Add", "name": "sum", "inputs": ["a", "b"]},
        {"type": "Concatenate", "name": "cat", "inputs": ["a", "input"]},
    )
    spec["outputs"] = ["sum", "cat"]
    summary = summary_of(tmp_path, spec)
    assert summary.record("sum").field.sizes() == [7, 7]
    assert summary.record("cat").field.sizes() == [3, 3]


def test_a_vector_broadcast_over_the_image_makes_every_position_read_everything(tmp_path: Path) -> None:
    spec = image_model(
        {"type": "Conv2D", "name": "features", "filters": 4, "kernel_size": 3, "padding": "same"},
        {"type": "GlobalAveragePooling2D", "name": "squeeze"},
        {"type": "Dense", "name": "excite", "units": 4, "activation": "sigmoid"},
        {"type": "Multiply", "name": "gate", "inputs": ["features", "excite"]},
    )
    summary = summary_of(tmp_path, spec)
    assert summary.record("excite").field.kind == "none"
    assert summary.record("gate").field.kind == "global"
    assert summary.record("gate").field.label() == "all"


class _Undeclared(LayerSpec):
    """A layer type as another module might add it, declaring no receptive-field rule."""

    type: Literal["Undeclared"] = Field(description="The Keras layer class.")


class _Declared(_Undeclared):
    receptive: ClassVar[FieldRule | None] = FieldRule.POINTWISE


def test_an_undeclared_type_is_unknown_unless_it_is_elementwise_and_keeps_the_shape() -> None:
    image = (8, 8, 3)
    fields = [input_field(image)]
    layer = _Undeclared(type="Undeclared")
    assert layer_field(layer, [image], (4, 4, 3), fields).kind == "unknown"  # a reshaping family by default
    assert layer_field(layer, [image], image, fields).kind == "unknown"
    _Undeclared.family = ACTIVATION
    try:
        assert layer_field(layer, [image], image, fields).sizes() == [1, 1]  # element-wise, shape kept
        assert layer_field(layer, [image], (8, 8, 6), fields).kind == "unknown"  # shape changed
    finally:
        _Undeclared.family = AUGMENTATION
    assert layer_field(layer, [image], image, fields).kind == "unknown"  # augmentation is not assumed
    assert layer_field(_Declared(type="Undeclared"), [image], (8, 8, 6), fields).sizes() == [1, 1]
    # An unknown field stays unknown downstream, whatever the next layer's rule.
    conv = REGISTRY["Conv2D"].model_validate({"type": "Conv2D", "filters": 2, "kernel_size": 3})
    assert layer_field(conv, [image], (6, 6, 2), [ReceptiveField("unknown")]).kind == "unknown"


def test_every_registered_type_declares_its_rule() -> None:
    """Each type says how it reads positions: a `receptive` rule or a `field_rule` of its own (which may answer
    "unknown" where a number would be a guess), or it is element-wise by its family; none of its examples falls
    through to the default's "unknown"."""
    undeclared = []
    for name, cls in REGISTRY.items():
        declared = cls.receptive is not None or cls.field_rule is not LayerSpec.field_rule
        for ex in cls.examples:
            layer = cls.model_validate({"type": name, **ex.args})
            inputs = list(ex.inputs)
            rule = layer.field_rule(inputs, layer.output_shape(inputs))
            if rule is FieldRule.UNKNOWN and not declared:
                undeclared.append(name)
    assert not undeclared, sorted(set(undeclared))
