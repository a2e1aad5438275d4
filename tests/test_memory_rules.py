"""The memory estimate's per-layer rules (layerspec/memory_rules.py): what each layer's gradient keeps, seen
through `check`'s per-layer `kept_bytes`; no TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from layerspec.check import check_file, memory_of
from layerspec.memory import MemoryEstimate

CONV = {"type": "Conv2D", "name": "conv", "filters": 4, "kernel_size": 1}
SIZE = 8 * 8 * 4 * 4  # one example's output of CONV, float32


def memory(tmp_path: Path, layers: list[dict[str, Any]], **spec: Any) -> MemoryEstimate:
    path = tmp_path / "spec.yaml"
    body = {"name": "rules", "input": {"shape": [8, 8, 3]}, "layers": layers, **spec}
    path.write_text(yaml.safe_dump(body, sort_keys=False), "utf-8")
    return memory_of(check_file(path))


def kept(estimate: MemoryEstimate) -> dict[str, int | None]:
    return {m.name: m.kept_bytes for m in estimate.layers}


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        # Max pooling reads its input (conv's output) and its own output; average pooling reads neither.
        ({"type": "MaxPooling2D", "pool_size": 2}, {"conv": SIZE, "layer": SIZE // 4}),
        ({"type": "AveragePooling2D", "pool_size": 2}, {"conv": 0, "layer": 0}),
        # Dropout keeps its mask; ReLU6 its output; swish the value before it; LeakyReLU its input.
        ({"type": "Dropout", "rate": 0.5}, {"conv": 0, "layer": SIZE}),
        ({"type": "ReLU", "max_value": 6.0}, {"conv": 0, "layer": SIZE}),
        ({"type": "Activation", "activation": "swish"}, {"conv": 0, "layer": SIZE}),
        ({"type": "LeakyReLU"}, {"conv": SIZE, "layer": 0}),
        # Padding reads no tensor.
        ({"type": "ZeroPadding2D", "padding": 1}, {"conv": 0, "layer": 0}),
    ],
)
def test_what_a_layer_after_a_conv_keeps(tmp_path: Path, layer: dict[str, Any], expected: dict[str, int]) -> None:
    # The global average pooling at the end reads no tensor either: the loss reads only its small output.
    found = kept(memory(tmp_path, [CONV, {**layer, "name": "layer"}, {"type": "GlobalAveragePooling2D"}]))
    assert {name: found[name] for name in expected} == expected


def test_max_pooling_gradient_has_three_temporaries_of_its_output(tmp_path: Path) -> None:
    pool = {"type": "MaxPooling2D", "name": "pool", "pool_size": 2}
    found = memory(tmp_path, [CONV, pool, {"type": "Flatten"}])
    # At the pooling's gradient: the batch, conv's output, the pooling's output and its gradient, the gradient
    # for conv's output, and the three temporaries.
    assert found.peak_at == "backward pool"
    assert found.peak_per_example == 8 * 8 * 3 * 4 + SIZE + SIZE // 4 + SIZE // 4 + SIZE + 3 * SIZE // 4


def test_nothing_before_the_first_weight_is_kept(tmp_path: Path) -> None:
    layers = [{"type": "Dropout", "name": "drop", "rate": 0.5}, {"type": "MaxPooling2D", "name": "pool"}, CONV]
    found = kept(memory(tmp_path, layers))
    # No gradient flows into the dropout or the pooling: only conv's input (for its kernel) and output (the loss).
    assert found == {"input": 0, "drop": 0, "pool": 4 * 4 * 3 * 4, "conv": 4 * 4 * 4 * 4}


def test_merges(tmp_path: Path) -> None:
    branch = {"type": "Conv2D", "name": "other", "filters": 4, "kernel_size": 1, "inputs": ["input"]}
    for merge, reads in (("Add", 0), ("Concatenate", 0), ("Multiply", SIZE)):
        layers = [CONV, branch, {"type": merge, "name": "merge", "inputs": ["conv", "other"]}]
        found = kept(memory(tmp_path, layers))
        assert (found["conv"], found["other"]) == (reads, reads), merge


@pytest.mark.parametrize(("axis", "fused", "extra"), [(-1, True, 0), (1, True, SIZE), (-1, False, SIZE)])
def test_batch_normalization_fused_or_composed(tmp_path: Path, axis: int, fused: bool, extra: int) -> None:
    layers = [CONV, {"type": "BatchNormalization", "name": "bn", "axis": axis}]
    found = kept(memory(tmp_path, layers, train={"fused_batchnorm": fused}))
    # Always its input; Keras's composed layer (an axis other than the last, or fusing off) the normalised value.
    assert (found["conv"], found["bn"]) == (SIZE, SIZE + extra)  # bn's output: read by the loss


def test_recurrent_layers_keep_every_step(tmp_path: Path) -> None:
    steps, features, units = 6, 3, 5

    def keeps(layer: dict[str, Any]) -> int | None:
        path = tmp_path / "seq.yaml"
        spec = {"name": "seq", "input": {"shape": [steps, features]}, "layers": [{**layer, "name": "rnn"}]}
        path.write_text(yaml.safe_dump(spec), "utf-8")
        return kept(memory_of(check_file(path)))["rnn"]

    output = units * 4  # the last step's output, read by the loss
    assert keeps({"type": "LSTM", "units": units}) == steps * (features + 7 * units) * 4 + output
    assert keeps({"type": "GRU", "units": units}) == steps * (features + 6 * units) * 4 + output
    assert keeps({"type": "SimpleRNN", "units": units}) == steps * (features + 2 * units) * 4 + output
    both = {"type": "Bidirectional", "layer": {"type": "GRU", "units": units}}
    assert keeps(both) == 2 * steps * (features + 6 * units) * 4 + 2 * output
    summed = {**both, "merge_mode": "sum"}
    assert keeps(summed) == 2 * steps * (features + 6 * units) * 4 + output


@pytest.mark.parametrize(
    ("steps", "layer", "at_once"),
    [
        # Up to 32 steps' weight gradients alive at once in the loop's gradient, whatever the batch.
        (40, {"type": "LSTM", "units": 4}, 32),
        (10, {"type": "GRU", "units": 4}, 10),
        (40, {"type": "LSTM", "units": 4, "unroll": True}, 40),  # unrolled: every step's, for one sum
        (40, {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 4}}, 32),
    ],
)
def test_loop_gradients_do_not_grow_with_the_batch(
    tmp_path: Path, steps: int, layer: dict[str, Any], at_once: int
) -> None:
    path = tmp_path / "spec.yaml"
    body = {"name": "loop", "input": {"shape": [steps, 3]}, "layers": [{**layer, "name": "rnn"}]}
    path.write_text(yaml.safe_dump(body, sort_keys=False), "utf-8")
    checked = check_file(path)
    weights = checked.summary.record("rnn").trainable_params * 4
    small, large = memory_of(checked, 1), memory_of(checked, 64)
    assert small.loop_gradient_bytes == large.loop_gradient_bytes == at_once * weights
    assert small.total_bytes is not None and large.total_bytes is not None
    assert small.to_json()["loop_gradient_bytes"] == at_once * weights


def test_no_loop_gradients_without_a_loop(tmp_path: Path) -> None:
    estimate = memory(tmp_path, [CONV, {"type": "Dense", "units": 2}])
    assert estimate.loop_gradient_bytes == 0
