"""The timeline of a training step behind the memory estimate's peak (layerspec/memory_trace.py), on hand-made
nodes: which tensors stay alive how long, and where the peak falls; no TensorFlow."""

from __future__ import annotations

from layerspec.memory_rules import Needs
from layerspec.memory_trace import Node, peak

READS_INPUT = Needs(inputs=True)
READS_OUTPUT = Needs(output=True)


def test_a_chain_peaks_where_kept_tensors_and_two_gradients_meet() -> None:
    nodes = [
        Node("x", (), 10, model_input=True),
        Node("conv", ("x",), 100, READS_INPUT, trainable=True),
        Node("relu", ("conv",), 100, READS_OUTPUT, in_place=True),
        Node("dense", ("relu",), 1, READS_INPUT, trainable=True),
    ]
    found = peak(nodes, ["dense"])
    # conv's output is read by no gradient (the ReLU's reads its own output): freed in the forward pass.
    assert found.kept == {"x": 10, "conv": 0, "relu": 100, "dense": 1}
    # At the Dense layer's gradient: the batch, the ReLU's output (kept), and the gradients for the Dense layer's
    # output (from the loss) and for its input; the model's output was freed by the loss. The ReLU's gradient is
    # written over the one it receives, so it adds none.
    assert found.per_example == 10 + 100 + 1 + 100
    assert found.at == "backward dense"


def test_a_mask_lives_until_its_gradient_has_run() -> None:
    nodes = [
        Node("x", (), 4, model_input=True),
        Node("dense", ("x",), 4, READS_INPUT, trainable=True),
        Node("drop", ("dense",), 50, Needs(extra=50), in_place=True),
        Node("small", ("drop",), 2, Needs(inputs=True), trainable=True),
    ]
    found = peak(nodes, ["small"])
    assert found.kept["drop"] == 100  # its output (small's input) and its mask
    # At small's gradient: the batch, drop's output and mask, and the gradients for small's output and input.
    assert found.per_example == 4 + 50 + 50 + 2 + 50
    assert found.at == "backward small"


def test_the_forward_pass_can_be_the_peak() -> None:
    # A large tensor before any weight (an upsampling) needs no gradient and is freed in the forward pass.
    nodes = [
        Node("x", (), 1, model_input=True),
        Node("up", ("x",), 100),
        Node("pool", ("up",), 5),
        Node("dense", ("pool",), 1, READS_INPUT, trainable=True),
    ]
    found = peak(nodes, ["dense"])
    assert found.per_example == 1 + 100 + 5
    assert found.at == "forward pool"


def test_nothing_before_the_first_weight_is_kept_or_differentiated() -> None:
    nodes = [
        Node("x", (), 10, model_input=True),
        Node("drop", ("x",), 10, Needs(extra=10), in_place=True),
        Node("pool", ("drop",), 10, Needs(inputs=True, output=True)),
        Node("dense", ("pool",), 1, READS_INPUT, trainable=True),
    ]
    found = peak(nodes, ["dense"])
    # Only the Dense layer's input (for its kernel's gradient) and output (for the loss) are kept; no gradient
    # flows into `pool` or `drop`, so neither keeps anything.
    assert found.kept == {"x": 0, "drop": 0, "pool": 10, "dense": 1}
    assert found.per_example == 10 + 10 + 10  # forward pool: the batch, drop's output (pool's input), pool's output


def test_a_view_shares_its_input_buffer_and_passes_the_need_on() -> None:
    nodes = [
        Node("x", (), 8, model_input=True),
        Node("conv", ("x",), 40, READS_INPUT, trainable=True),
        Node("flat", ("conv",), 0, view=True),
        Node("dense", ("flat",), 2, READS_INPUT, trainable=True),
    ]
    found = peak(nodes, ["dense"])
    assert found.kept == {"x": 8, "conv": 40, "flat": 0, "dense": 2}
    # At the Dense layer's gradient: the batch, conv's output, and the gradients for the Dense layer's output and,
    # through the view, for conv's output.
    assert found.per_example == 8 + 40 + 2 + 40


def test_a_skip_connection_keeps_its_tensor_until_the_last_reader() -> None:
    nodes = [
        Node("x", (), 1, model_input=True),
        Node("a", ("x",), 10, READS_INPUT, trainable=True),
        Node("b", ("a",), 20, READS_INPUT, trainable=True),
        Node("c", ("b",), 10, READS_INPUT, trainable=True),
        Node("add", ("a", "c"), 10),  # Add reads no tensor for its gradient
    ]
    found = peak(nodes, ["add"])
    assert found.kept == {"x": 1, "a": 10, "b": 20, "c": 0, "add": 10}
    # At c's gradient: x, a and b (kept: a for b's gradient), and the gradients for c's output and for a (both
    # made by add's gradient; a's waits for b's contribution) and for b (made by c's). add's output and its
    # gradient were freed when the loss and add's gradient had run.
    assert found.per_example == 1 + 10 + 20 + 10 + 10 + 20
    assert found.at == "backward c"
