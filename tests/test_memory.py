"""The memory estimate of `check`: activations per layer in the policy's compute dtype, weights, gradients,
optimizer slots and the moving average, and `--batch-size`; no TensorFlow. tests/bench/bench_memory.py holds the
estimate against measured memory."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from layerspec.check import check_file, memory_of

SPEC: dict[str, Any] = {
    "name": "mem",
    "input": {"shape": [8, 8, 3]},
    "layers": [
        {"type": "Conv2D", "name": "conv", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
        {"type": "BatchNormalization", "name": "bn"},
        {"type": "Flatten", "name": "flat"},
        {"type": "Dense", "name": "out", "units": 2, "activation": "softmax"},
    ],
}


def write(tmp_path: Path, train: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **({"train": train} if train else {})}, sort_keys=False), "utf-8")
    return path


def test_activations_per_layer_and_totals(tmp_path: Path) -> None:
    memory = memory_of(check_file(write(tmp_path, {"batch_size": 5})))
    outputs = {m.name: m.activation_bytes for m in memory.layers}
    assert outputs == {"input": 8 * 8 * 3 * 4, "conv": 8 * 8 * 4 * 4, "bn": 8 * 8 * 4 * 4, "flat": 256 * 4, "out": 8}
    kept = {m.name: m.kept_bytes for m in memory.layers}
    # The conv reads its input again and its relu its output; the normalisation reads its input; the Dense reads
    # the flattened normalised values (a view of bn's output); softmax and the loss read the model's output.
    assert kept == {"input": 8 * 8 * 3 * 4, "conv": 8 * 8 * 4 * 4, "bn": 8 * 8 * 4 * 4, "flat": 0, "out": 8}
    params = (3 * 3 * 3 * 4 + 4) + 4 * 4 + (256 * 2 + 2)
    trainable = params - 8  # the moving mean and variance
    assert (memory.parameter_bytes, memory.gradient_bytes) == (4 * params, 4 * trainable)
    assert memory.optimizer_bytes == 2 * 4 * trainable  # adam: two slots
    assert memory.ema_bytes == memory.cast_bytes == 0
    # The peak comes at the Dense layer's gradient: the batch, everything kept, and the gradients for the Dense
    # layer's output (from the loss) and for its input (bn's output, through the view).
    assert memory.peak_at == "backward out"
    assert memory.peak_per_example == sum(kept.values()) + 8 + 8 * 8 * 4 * 4
    assert memory.activation_bytes == 5 * memory.peak_per_example
    assert memory.total_bytes == 4 * params + 3 * 4 * trainable + memory.activation_bytes


def test_a_tensor_no_gradient_reads_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    layers = [
        {"type": "Conv2D", "name": "conv", "filters": 4, "kernel_size": 1},
        {"type": "BatchNormalization", "name": "bn"},
        {"type": "ReLU", "name": "relu"},
        {"type": "Conv2D", "name": "swish", "filters": 4, "kernel_size": 1, "activation": "swish"},
    ]
    path.write_text(yaml.safe_dump({**SPEC, "layers": layers}), "utf-8")
    kept = {m.name: m.kept_bytes for m in memory_of(check_file(path)).layers}
    size = 8 * 8 * 4 * 4
    # bn's output feeds only the ReLU, whose gradient needs its own output; swish's gradient reads the value
    # before it, and the loss reads its output.
    assert kept == {"input": 8 * 8 * 3 * 4, "conv": size, "bn": 0, "relu": size, "swish": 2 * size}


@pytest.mark.parametrize(
    ("optimizer", "slots"),
    [
        ({"type": "sgd"}, 0),
        ({"type": "sgd", "momentum": 0.9}, 1),
        ({"type": "rmsprop"}, 1),
        ({"type": "rmsprop", "momentum": 0.5}, 2),
        ({"type": "adamw"}, 2),
    ],
)
def test_optimizer_slots(tmp_path: Path, optimizer: dict[str, Any], slots: int) -> None:
    memory = memory_of(check_file(write(tmp_path, {"optimizer": optimizer})))
    assert memory.optimizer_bytes == slots * memory.gradient_bytes


def test_ema_keeps_one_more_copy_and_mixed_precision_halves_activations(tmp_path: Path) -> None:
    plain = memory_of(check_file(write(tmp_path)))
    memory = memory_of(check_file(write(tmp_path, {"optimizer": {"use_ema": True}, "mixed_precision": "bfloat16"})))
    assert memory.ema_bytes == memory.gradient_bytes
    assert memory.compute_dtype == "bfloat16"
    assert memory.cast_bytes == memory.gradient_bytes // 2  # the trainable weights cast to bfloat16
    layers = {m.name: m.activation_bytes for m in memory.layers}
    assert layers["bn"] == 8 * 8 * 4 * 2
    assert layers["input"] == 8 * 8 * 3 * 4  # the float32 input as it arrives
    assert memory.parameter_bytes == plain.parameter_bytes  # variables stay float32


def test_unknown_sizes_leave_the_activations_unknown(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    spec = {**SPEC, "input": {"shape": [None, None, 3]}, "layers": [*SPEC["layers"][:2], {"type": "Dense", "units": 2}]}
    path.write_text(yaml.safe_dump(spec), "utf-8")
    memory = memory_of(check_file(path))
    assert memory.activation_bytes is None and memory.total_bytes is None
    assert memory.parameter_bytes > 0


def test_check_json_memory_and_batch_size(tmp_path: Path, cli: Callable[..., Any]) -> None:
    spec = str(write(tmp_path, {"batch_size": 5}))
    default = json.loads(cli("check", "--json", spec).stdout)["memory"]
    assert default["batch_size"] == 5
    result = cli("check", "--json", "--batch-size", "10", spec)
    assert result.exit_code == 0, result.output
    memory = json.loads(result.stdout)["memory"]
    assert memory["batch_size"] == 10
    assert memory["activation_bytes"] == 2 * default["activation_bytes"]
    assert memory["total_bytes"] - memory["activation_bytes"] == default["total_bytes"] - default["activation_bytes"]
    assert [m["name"] for m in memory["layers"]] == ["input", "conv", "bn", "flat", "out"]
    text = cli("check", "--batch-size", "10", spec).stdout
    assert "Training memory (batch 10, float32)" in text


def test_bad_batch_size_is_a_usage_error(tmp_path: Path, cli: Callable[..., Any]) -> None:
    result = cli("check", "--batch-size", "0", str(write(tmp_path)))
    assert result.exit_code == 2
    assert "--batch-size: received 0, expected a whole number from 1" in result.stderr
