"""Keras's other names for layer classes: accepted as `type`, replaced by the class name when the spec is loaded."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from layerspec.check import check_loaded
from layerspec.layers import REGISTRY, base
from layerspec.layers.base import ALIASES
from layerspec.spec import parse_spec

SPEC = """\
name: aliases
input: {shape: [8, 16, 3]}
layers:
  - {type: Convolution2D, filters: 4, kernel_size: 3}
  - {type: MaxPool2D}
  - {type: Reshape, target_shape: [21, 4]}
  - {type: SeparableConvolution1D, filters: 4, kernel_size: 3, padding: same}
  - {type: AvgPool1D, pool_size: 3}
  - {type: GlobalMaxPool1D}
"""
CLASS_NAMES = [
    "Conv2D",
    "MaxPooling2D",
    "Reshape",
    "SeparableConv1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
]


def test_aliases_name_registered_types_only() -> None:
    assert set(ALIASES.values()) <= set(REGISTRY)
    assert not set(ALIASES) & set(REGISTRY)


@pytest.mark.keras
def test_aliases_are_kerass(keras: Any) -> None:
    """Every other name keras.layers exports for a registered class is an alias of it, and nothing else is."""
    exported: dict[str, str] = {}
    for name in dir(keras.layers):
        cls = getattr(keras.layers, name)
        registered = [t for t in REGISTRY if getattr(keras.layers, t, None) is cls]
        if inspect.isclass(cls) and registered and name not in REGISTRY:
            exported[name] = registered[0]
    assert exported == ALIASES


def test_an_alias_is_the_class_name_after_loading(tmp_path: Path, cli: Callable[..., Any]) -> None:
    checked = check_loaded(parse_spec(SPEC, Path("aliases.yaml")))
    layers = [n for n in checked.graph.nodes if n.layer is not None]
    assert [n.layer.type for n in layers if n.layer] == CLASS_NAMES
    # Generated names come from the class, as Keras names a MaxPool2D() max_pooling2d.
    assert [n.name for n in layers][:2] == ["conv2d", "max_pooling2d"]
    spec = tmp_path / "aliases.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = cli("check", "--json", str(spec))
    assert result.exit_code == 0, result.output
    types = [layer["type"] for layer in json.loads(result.stdout)["layers"]][1:]
    assert types == CLASS_NAMES


def test_the_schema_lists_class_names_only(cli: Callable[..., Any]) -> None:
    result = cli("schema")
    assert result.exit_code == 0
    text = result.stdout
    assert '"MaxPooling3D"' in text and '"Conv1DTranspose"' in text
    assert not [alias for alias in ALIASES if f'"{alias}"' in text]


def test_errors_in_an_aliased_entry_point_at_its_line(tmp_path: Path, cli: Callable[..., Any]) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        SPEC.replace("{type: MaxPool2D}", "{type: MaxPool2D, pool_siz: 2}") + "  - {type: AvgPool3d}\n",
        encoding="utf-8",
    )
    result = cli("check", str(spec))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{spec}:5:") and "unknown argument 'pool_siz' for MaxPooling2D" in lines[0]
    assert lines[1].startswith(f"{spec}:10:") and "did you mean 'AvgPool3D'?" in lines[1]


def test_an_alias_of_another_type_is_refused() -> None:
    class Pooling(base.LayerSpec):
        type: Literal["NotYetRegistered"]
        aliases = ("MaxPooling2D",)

    with pytest.raises(ValueError, match="alias 'MaxPooling2D' is already a layer type"):
        base.register(base.POOLING)(Pooling)
    assert "NotYetRegistered" not in REGISTRY


@pytest.mark.keras
def test_the_built_model_has_the_class_names() -> None:
    from layerspec.compile import compile_model

    model = compile_model(check_loaded(parse_spec(SPEC, Path("aliases.yaml"))))
    assert [type(layer).__name__ for layer in model.layers][1:] == CLASS_NAMES
