"""Multiply-accumulate counts per example, against figures worked out by hand (Keras has no MAC count to compare)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from layerspec.check import check_loaded
from layerspec.spec import parse_spec


def macs(shape: list[int], layer: dict[str, Any]) -> int:
    spec = {"name": "macs", "input": {"shape": shape}, "layers": [{"name": "probe", **layer}]}
    checked = check_loaded(parse_spec(yaml.safe_dump(spec), Path("macs.yaml")))
    return checked.summary.record("probe").macs


@pytest.mark.parametrize(
    ("shape", "layer", "expected"),
    [
        # output positions x output channels x kernel taps x input channels (per group)
        ([8, 8, 4], {"type": "Conv2D", "filters": 16, "kernel_size": 3, "padding": "same"}, 8 * 8 * 16 * 9 * 4),
        ([8, 8, 4], {"type": "Conv2D", "filters": 16, "kernel_size": 3, "groups": 2}, 6 * 6 * 16 * 9 * 2),
        ([20, 6], {"type": "Conv1D", "filters": 5, "kernel_size": 3, "strides": 2}, 9 * 5 * 3 * 6),
        # each output channel sees one input channel
        (
            [8, 8, 4],
            {"type": "DepthwiseConv2D", "kernel_size": 3, "depth_multiplier": 2, "padding": "same"},
            8 * 8 * 8 * 9,
        ),
        # depthwise step, then a 1x1 pointwise step
        (
            [8, 8, 4],
            {"type": "SeparableConv2D", "filters": 16, "kernel_size": 3, "padding": "same"},
            8 * 8 * (9 * 4 + 4 * 16),
        ),
        # every input position scatters a kernel-sized patch into every output channel
        ([4, 4, 2], {"type": "Conv2DTranspose", "filters": 5, "kernel_size": 3, "strides": 2}, 4 * 4 * 9 * 2 * 5),
        # the same rules at rank 1 and 3
        ([5, 6, 7, 2], {"type": "Conv3D", "filters": 4, "kernel_size": 3}, 3 * 4 * 5 * 4 * 27 * 2),
        ([5, 6, 7, 4], {"type": "Conv3D", "filters": 6, "kernel_size": 2, "groups": 2}, 4 * 5 * 6 * 6 * 8 * 2),
        ([12, 3], {"type": "Conv1DTranspose", "filters": 4, "kernel_size": 3, "strides": 2}, 12 * 3 * 3 * 4),
        ([2, 3, 4, 2], {"type": "Conv3DTranspose", "filters": 5, "kernel_size": 2}, 2 * 3 * 4 * 8 * 2 * 5),
        ([20, 6], {"type": "DepthwiseConv1D", "kernel_size": 3, "depth_multiplier": 2}, 18 * 12 * 3),
        ([20, 6], {"type": "SeparableConv1D", "filters": 8, "kernel_size": 3, "padding": "same"}, 20 * (3 * 6 + 6 * 8)),
        ([5, 6, 7, 2], {"type": "MaxPooling3D"}, 0),
        ([12, 3], {"type": "AdaptiveAveragePooling1D", "output_size": 4}, 0),
        ([16], {"type": "Dense", "units": 10}, 16 * 10),
        ([5, 7], {"type": "Dense", "units": 3}, 5 * 7 * 3),
        ([8, 8, 4], {"type": "BatchNormalization"}, 8 * 8 * 4),
        ([8, 8, 4], {"type": "MaxPooling2D"}, 0),
        ([8, 8, 4], {"type": "Flatten"}, 0),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else None,
)
def test_macs(shape: list[int], layer: dict[str, Any], expected: int) -> None:
    assert macs(shape, layer) == expected


def test_signs_macs_total() -> None:
    """specs/signs.yaml: conv0 + bn0 + conv1 + bn1 + fc, worked out layer by layer."""
    from layerspec.check import check_file

    expected = 64 * 64 * 32 * 7 * 7 * 3 + 64 * 64 * 32 + 26 * 26 * 64 * 7 * 7 * 32 + 26 * 26 * 64 + 10816 * 6
    assert check_file(Path(__file__).resolve().parent.parent / "specs" / "signs.yaml").summary.macs == expected
