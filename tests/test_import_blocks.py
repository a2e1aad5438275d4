"""`layerspec import --blocks`: repeated sub-graphs folded into parameterised blocks, and the fold proven.

The folding itself is tested on hand-written specs (no TensorFlow); ResNet50 and MobileNetV2 are saved by Keras,
imported with --blocks, and the folded spec held to Keras layer by layer (figures, and the config of the model it
builds) and to the unfolded import's figures.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from layerspec import keras_import_blocks
from layerspec.check import check_loaded
from layerspec.cli import app
from layerspec.keras_import_blocks import Folded, fold_layers, fold_spec
from layerspec.keras_import_blocks_check import expansion_differences, render
from layerspec.spec import parse_spec
from layerspec.spec.yaml_source import parse_yaml

runner = CliRunner()


def unit(n: int, rate: float, feed: str) -> list[dict[str, Any]]:
    """A residual unit named as Keras's applications name theirs: unit<n>_<layer>."""
    return [
        {"type": "Dense", "name": f"unit{n}_fc1", "units": 8, "activation": "relu"},
        {"type": "Dropout", "name": f"unit{n}_drop", "rate": rate},
        {"type": "Dense", "name": f"unit{n}_fc2", "units": 8},
        {"type": "Add", "name": f"unit{n}_add", "inputs": [feed, f"unit{n}_fc2"]},
        {"type": "Activation", "name": f"unit{n}_out", "activation": "relu"},
    ]


def spec_text(layers: list[dict[str, Any]]) -> str:
    spec = {"name": "units", "input": {"name": "x", "shape": [8]}, "layers": layers}
    return "# units: written by the test.\n" + yaml.safe_dump(spec, sort_keys=False)


def residual_spec(rates: tuple[float, ...] = (0.1, 0.1, 0.2, 0.1)) -> str:
    layers: list[dict[str, Any]] = [{"type": "Dense", "name": "stem", "units": 8}]
    for n, rate in enumerate(rates, start=1):
        layers += unit(n, rate, layers[-1]["name"])
    layers.append({"type": "Dense", "name": "head", "units": 2, "activation": "softmax"})
    return spec_text(layers)


def raw(text: str) -> dict[str, Any]:
    return parse_yaml(text, "units.yaml").data


def test_repeated_units_fold_into_one_block_whose_differences_are_parameters() -> None:
    text = residual_spec()
    folded = fold_layers(raw(text))
    assert folded is not None and (folded.blocks, folded.uses, folded.layers) == (1, 4, 20)
    [(name, block)] = folded.spec["blocks"].items()
    assert name == "unit_residual" and block["params"] == {"rate": 0.1}  # the commonest value is the default
    assert [layer["name"] for layer in block["layers"]] == ["fc1", "drop", "fc2", "add", "out"]
    assert block["layers"][3]["inputs"] == ["$input", "fc2"] and block["layers"][1]["rate"] == "${rate}"
    uses = folded.spec["layers"][1:-1]
    assert [u["name"] for u in uses] == ["unit1", "unit2", "unit3", "unit4"]
    assert [u.get("with") for u in uses] == [None, None, {"rate": 0.2}, None]
    written = render(folded.spec, ["# units"])
    assert expansion_differences(text, written, Path("units.yaml")) == []
    folding = fold_spec(text, Path("units.keras"))
    assert folding.folded is not None and folding.text == render(folded.spec, folding.text.splitlines()[:2])
    assert "20 layers folded into 4 uses of 1 block " in folding.message
    assert folding.lines[1] < folding.lines[0]


def test_the_self_check_catches_a_wrong_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    text = residual_spec()
    right = fold_layers(raw(text))
    assert right is not None
    wrong = copy.deepcopy(right.spec)
    wrong["blocks"]["unit_residual"]["layers"][0]["activation"] = "tanh"  # a fold that mistook one argument
    differences = expansion_differences(text, render(wrong, []), Path("units.yaml"))
    assert differences and "layer 'unit1_fc1': activation 'relu' became 'tanh'" in differences[0]
    swapped = copy.deepcopy(right.spec)
    swapped["blocks"]["unit_residual"]["layers"][3]["inputs"] = ["fc2", "$input"]  # Add's operands reordered
    assert (
        "unit1_add': inputs ['stem', 'unit1_fc2'] became ['unit1_fc2', 'stem']"
        in expansion_differences(text, render(swapped, []), Path("units.yaml"))[0]
    )
    monkeypatch.setattr(keras_import_blocks, "fold_layers", lambda spec: Folded(wrong, 1, 4, 20))
    folding = fold_spec(text, Path("units.keras"))
    assert folding.folded is None and folding.text == text  # the unfolded spec is what gets written
    assert (
        "does not expand to the imported graph" in folding.message
        and "activation 'relu' became 'tanh'" in folding.message
    )


def test_a_spec_without_repeated_units_is_left_alone() -> None:
    chain = spec_text(
        [
            {"type": "Dense", "name": "hidden", "units": 8, "activation": "relu"},
            {"type": "Dropout", "name": "drop", "rate": 0.1},
            {"type": "Dense", "name": "out", "units": 2},
        ]
    )
    assert fold_layers(raw(chain)) is None
    folding = fold_spec(chain, Path("chain.keras"))
    assert folding.folded is None and folding.text == chain and "found no repeated sub-graph" in folding.message


def test_units_read_from_inside_or_too_small_to_pay_are_not_folded() -> None:
    layers: list[dict[str, Any]] = [{"type": "Dense", "name": "stem", "units": 8}]
    for n in range(1, 5):
        layers += unit(n, 0.1, layers[-1]["name"])
    # A layer after the units reads unit2's inner fc1: unit2 has two exits, so it is no block use.
    layers.append({"type": "Concatenate", "name": "join", "inputs": ["unit4_out", "unit2_fc1"]})
    folded = fold_layers(raw(spec_text(layers)))
    assert folded is not None and [u.get("name") for u in folded.spec["layers"] if "block" in u] == [
        "unit1",
        "unit3",
        "unit4",
    ]
    two = residual_spec((0.1, 0.2))  # two uses of five layers: the block costs more lines than it saves
    folding = fold_spec(two, Path("two.keras"))
    assert folding.folded is None and folding.text == two
    assert "found no repeated sub-graph" in folding.message or "would not shorten" in folding.message


# ------------------------------------------------------------------------------------------- Keras models


def import_json(path: Path, *flags: str) -> tuple[dict[str, Any], str]:
    result = runner.invoke(app, ["import", str(path), "--json", *flags])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def comparable(config: dict[str, Any]) -> dict[str, Any]:
    """A layer's config without what differs between two builds of the same layer."""
    return {k: v for k, v in config.items() if k not in ("dtype", "build_config")}


def figures(text: str, where: Path) -> list[dict[str, Any]]:
    """`check --json`'s record of every layer."""
    return [record.to_json() for record in check_loaded(parse_spec(text, where)).summary.layers]


@pytest.mark.keras
@pytest.mark.parametrize(
    ("name", "blocks", "uses", "folded_layers"),
    [("ResNet50", 2, 16, 168), ("MobileNetV2", 3, 16, 142)],
)
def test_keras_applications_fold_and_match_keras(
    keras: Any, tmp_path: Path, name: str, blocks: int, uses: int, folded_layers: int
) -> None:
    from layerspec.compile import compile_model

    a = keras.applications
    small = {"weights": None, "input_shape": (32, 32, 3), "classes": 10}
    model = a.ResNet50(**small) if name == "ResNet50" else a.MobileNetV2(**small, alpha=0.35)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    plain, _ = import_json(path)
    folded, stderr = import_json(path, "--blocks")
    assert f"{folded_layers} layers folded into {uses} uses of {blocks} blocks" in stderr
    assert folded["blocks"] == uses and plain["blocks"] is None
    spec = yaml.safe_load(folded["text"])
    assert len(spec["blocks"]) == blocks and sum("block" in entry for entry in spec["layers"]) == uses
    assert folded["text"].count("\n") < plain["text"].count("\n") / 2
    checked = check_loaded(parse_spec(folded["text"], tmp_path / "folded.yaml"))
    after = [record.to_json() for record in checked.summary.layers]
    assert after == figures(plain["text"], tmp_path / "plain.yaml")  # layer by layer, names and all
    by_name = {record["name"]: record for record in after if record["type"] != "InputLayer"}
    keras_layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    assert len(by_name) == len(keras_layers)
    rebuilt = compile_model(checked)
    for layer in keras_layers:
        record = by_name[layer.name]
        assert record["output_shape"] == [None, *layer.output.shape[1:]], layer.name
        assert record["params"] == layer.count_params(), layer.name
        assert comparable(rebuilt.get_layer(layer.name).get_config()) == comparable(layer.get_config()), layer.name


@pytest.mark.keras
def test_a_model_with_nothing_to_fold_is_written_plain(keras: Any, tmp_path: Path) -> None:
    x = keras.Input((16, 16, 3), name="image")
    y = keras.layers.Conv2D(4, 3, name="conv")(x)
    y = keras.layers.GlobalAveragePooling2D(name="pool")(y)
    keras.Model(x, keras.layers.Dense(3, name="head")(y), name="small").save(tmp_path / "small.keras")
    out, plain = tmp_path / "small.yaml", tmp_path / "plain.yaml"
    result = runner.invoke(app, ["import", str(tmp_path / "small.keras"), "--blocks", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "found no repeated sub-graph" in result.stderr and "wrote the spec unfolded" in result.stderr
    assert runner.invoke(app, ["import", str(tmp_path / "small.keras"), "--out", str(plain)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == plain.read_text(encoding="utf-8")
