"""`layerspec diff A B`: layers matched by name, their argument and figure changes, edges, blocks, settings,
totals; text, --json and --html; run folders as sides; no TensorFlow."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

BASE: dict[str, Any] = {
    "name": "base",
    "input": {"shape": [16, 16, 3]},
    "blocks": {"unit": {"params": {"f": 4}, "layers": [{"type": "Conv2D", "filters": "${f}", "kernel_size": 3}]}},
    "layers": [
        {"type": "Conv2D", "name": "conv", "filters": 8, "kernel_size": 3},
        {"type": "MaxPooling2D"},
        {"type": "Flatten"},
        {"type": "Dense", "name": "out", "units": 2, "activation": "softmax"},
    ],
    "train": {"optimizer": {"type": "adam"}, "batch_size": 8},
    "expect": {"params": 1},  # wrong on purpose: diff compares drafts that do not meet their expectations yet
}


def write(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def changed_spec() -> dict[str, Any]:
    spec = json.loads(json.dumps(BASE))
    spec["layers"][0]["kernel_size"] = 5
    spec["layers"].insert(2, {"type": "Dropout", "name": "drop", "rate": 0.5})
    spec["train"]["optimizer"]["type"] = "sgd"
    spec["blocks"]["other"] = spec["blocks"]["unit"]
    return spec


def test_json_shape(tmp_path: Path, cli: Callable[..., Any]) -> None:
    a, b = write(tmp_path / "a.yaml", BASE), write(tmp_path / "b.yaml", changed_spec())
    result = cli("diff", "--json", str(a), str(b))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) == {"a", "b", "added", "removed", "changed", "edges", "blocks", "settings", "totals"}
    assert payload["added"] == [{"name": "drop", "type": "Dropout", "output_shape": [None, 6, 6, 8], "params": 0}]
    assert payload["removed"] == []
    changes = {c["name"]: c for c in payload["changed"]}
    conv = changes["conv"]
    assert conv["fields"] == {"kernel_size": [3, 5]}
    assert conv["output_shape"] == [[None, 14, 14, 8], [None, 12, 12, 8]]
    assert conv["params"] == [3 * 3 * 3 * 8 + 8, 5 * 5 * 3 * 8 + 8]
    assert conv["receptive_field"] == [[3, 3], [5, 5]]
    # The unnamed MaxPooling2D is matched by its generated name; flatten now reads the new layer.
    assert "max_pooling2d" in changes
    assert changes["flatten"]["fields"] == {"inputs": [["max_pooling2d"], ["drop"]]}
    assert payload["edges"] == {
        "added": [["max_pooling2d", "drop"], ["drop", "flatten"]],
        "removed": [["max_pooling2d", "flatten"]],
    }
    assert payload["blocks"] == {"added": ["other"], "removed": [], "changed": []}
    assert payload["settings"] == {"train.optimizer.type": ["adam", "sgd"]}
    params = payload["totals"]["params"]
    assert params[1] - params[0] == (5 * 5 - 3 * 3) * 3 * 8 + (6 * 6 * 8 - 7 * 7 * 8) * 2
    assert payload["totals"]["memory_bytes"][0] > 0


def test_text_output(tmp_path: Path, cli: Callable[..., Any]) -> None:
    a, b = write(tmp_path / "a.yaml", BASE), write(tmp_path / "b.yaml", changed_spec())
    result = cli("diff", str(a), str(b))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"--- {a}", f"+++ {b}"]
    assert any(line.startswith(" drop (Dropout)") and line.endswith("| + added") for line in lines)
    conv = next(line for line in lines if line.startswith(" conv (Conv2D)"))
    assert "~ kernel_size: 3 -> 5; output_shape: [null, 14, 14, 8] -> [null, 12, 12, 8]" in conv
    assert any("train.optimizer.type" in line and "adam -> sgd" in line for line in lines)
    assert any("layers changed, 1 added, 0 removed" in line for line in lines)
    assert any(line.split()[:1] == ["params"] for line in lines)


def test_identical_specs_and_defaults_written_out(tmp_path: Path, cli: Callable[..., Any]) -> None:
    same = json.loads(json.dumps(BASE))
    same["layers"][0]["padding"] = "valid"  # Keras's default written out is no change
    same["name"] = "other_name"
    a, b = write(tmp_path / "a.yaml", BASE), write(tmp_path / "b.yaml", same)
    payload = json.loads(cli("diff", "--json", str(a), str(b)).stdout)
    assert (payload["added"], payload["removed"], payload["changed"], payload["settings"]) == ([], [], [], {})
    assert "(the models and settings are the same)" in cli("diff", str(a), str(b)).stdout


def test_removed_layer_and_run_folder_side(tmp_path: Path, cli: Callable[..., Any]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    write(run / "spec.yaml", BASE)
    smaller = json.loads(json.dumps(BASE))
    del smaller["layers"][1]
    b = write(tmp_path / "b.yaml", smaller)
    payload = json.loads(cli("diff", "--json", str(run), str(b)).stdout)
    assert [e["name"] for e in payload["removed"]] == ["max_pooling2d"]


def test_folder_without_spec_is_a_usage_error(tmp_path: Path, cli: Callable[..., Any]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("diff", str(empty), str(write(tmp_path / "b.yaml", BASE)))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{empty}: error: {empty} is a folder without spec.yaml")


def test_bad_spec_side_reports_its_errors(tmp_path: Path, cli: Callable[..., Any]) -> None:
    bad = json.loads(json.dumps(BASE))
    bad["layers"][0]["kernel_size"] = 99
    result = cli("diff", str(write(tmp_path / "a.yaml", BASE)), str(write(tmp_path / "b.yaml", bad)))
    assert result.exit_code == 2
    assert "b.yaml:" in result.stderr and "kernel" in result.stderr
    assert result.stdout == ""


def test_html_colours_the_differences_and_escapes_names(tmp_path: Path, cli: Callable[..., Any]) -> None:
    odd = changed_spec()
    odd["layers"][2]["name"] = "drop_x"  # layer names cannot hold markup; paths (the title) can
    folder = tmp_path / "a<b>"
    folder.mkdir()
    a, b = write(folder / "a.yaml", BASE), write(tmp_path / "b.yaml", odd)
    page = tmp_path / "diff.html"
    result = cli("diff", str(a), str(b), "--html", str(page))
    assert result.exit_code == 0, result.output
    text = page.read_text(encoding="utf-8")
    assert "a&lt;b&gt;" in text and "a<b>" not in text
    assert "kernel_size: 3 -&gt; 5" in text
    if "<svg" in text:  # Graphviz installed
        assert text.count("<svg") == 2
        assert "#8ce99a" in text and "#ffd43b" in text  # added, changed
    assert not list(tmp_path.glob(".diff.html.*"))  # written atomically
