"""The largest amount of activation memory alive at one moment of a training step (no TensorFlow).

A step runs the layers forward in order, the loss, then their gradients backward in reverse order, and
TensorFlow frees each tensor after its last reader. So every tensor is alive over one stretch of that timeline:
- a layer's output from the moment it is made until its last reader: in the forward pass when no gradient reads
  it, else until the gradient of the earliest layer that reads it (layerspec/memory_rules.py) has run;
- what a gradient keeps of its own (a dropout mask, the value before an activation) until that gradient has run,
  and its temporaries while it runs;
- the gradient with respect to a tensor from the moment the gradient of its latest reader makes it until the
  gradient of the layer that made the tensor has used it; it exists only if some trainable weight lies before
  the tensor (TensorFlow computes no gradient that no weight needs, nor gradients of layers before any weight);
- the model's inputs (the batch) throughout.
A view (Flatten, Reshape) shares its input's buffer, and so does its gradient. Gradients of element-wise
functions (ReLU, sigmoid, ...) overwrite the gradient they receive, so they add no buffer. The peak is the
largest sum of the stretches that overlap, per example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from layerspec.memory_rules import Needs


# Not frozen (treat it as read-only): one is made per layer, and a frozen dataclass's __init__ costs several
# times more on a large spec. Slots: no dict per instance.
@dataclass(slots=True)
class Node:
    """One layer (or model input) as the timeline sees it; sizes are bytes per example."""

    name: str
    inputs: tuple[str, ...]
    size: int
    needs: Needs = field(default_factory=Needs)
    trainable: bool = False
    view: bool = False
    model_input: bool = False
    # Its gradient overwrites the gradient it receives (element-wise functions, dropout's mask).
    in_place: bool = False


@dataclass(frozen=True)
class Peak:
    per_example: int
    at: str  # "forward NAME", "loss" or "backward NAME"
    # Per node: what the backward pass keeps of its output and of its own, per example.
    kept: dict[str, int]


def peak(nodes: Sequence[Node], outputs: Sequence[str]) -> Peak:
    """The peak of the timeline (see the module's docstring); `outputs` are read by the loss."""
    n = len(nodes)
    index = {node.name: i for i, node in enumerate(nodes)}
    root = _roots(nodes, index)
    upstream = _upstream(nodes, index)
    runs = [upstream[i] and not node.view and not node.model_input for i, node in enumerate(nodes)]
    readers, consumers = _readers(nodes, outputs, index, root, runs)
    # Each stretch adds its size at its start and takes it away after its end; the running sum is what is alive.
    # Moment i is layer i's forward pass, n the loss, 2n - i layer i's gradient. Written out in the loop rather
    # than as a helper: a large spec makes several stretches per layer.
    timeline = [0] * (2 * n + 2)
    last = 2 * n
    kept: dict[str, int] = {}
    for i, node in enumerate(nodes):
        back = last - i
        extra = 0
        if runs[i]:
            extra, scratch = node.needs.extra, node.needs.scratch
            if extra:
                timeline[i] += extra
                timeline[back + 1] -= extra
            if scratch:
                timeline[back] += scratch
                timeline[back + 1] -= scratch
        if node.view:
            kept[node.name] = 0
            continue
        size, read = node.size, readers.get(i)
        if node.model_input:
            start, end = 0, last
        elif read is not None:
            start, end = i, last - min(read)
        else:
            start, end = i, max(consumers.get(i, (i,)))
        timeline[start] += size
        timeline[end + 1] -= size
        kept[node.name] = extra + (0 if read is None else size)
        if upstream[i] and not node.model_input:
            later = [c for c in consumers.get(i, ()) if c == n or runs[c]]
            if later:  # the gradient with respect to this output
                timeline[last - max(later)] += size
                timeline[back - node.in_place + 1] -= size
    sums = list(accumulate(timeline[:-1]))
    top = sums.index(max(sums))  # the first moment of the peak
    return Peak(sums[top], _moment(nodes, top), kept)


def _readers(
    nodes: Sequence[Node], outputs: Sequence[str], index: dict[str, int], root: list[int], runs: list[bool]
) -> tuple[dict[int, list[int]], dict[int, list[int]]]:
    """Per tensor (its producer's index): the layers whose gradient reads it, and the layers that read it."""
    readers: dict[int, list[int]] = {}
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        if node.view:
            continue
        reads = runs[i] and node.needs.inputs
        for name in node.inputs:
            tensor = root[index[name]]
            consumers.setdefault(tensor, []).append(i)
            if reads:
                readers.setdefault(tensor, []).append(i)
        if runs[i] and node.needs.output:
            readers.setdefault(i, []).append(i)
    n = len(nodes)
    for name in outputs:  # the loss reads the model's outputs; it comes after every layer
        consumers.setdefault(root[index[name]], []).append(n)
        readers.setdefault(root[index[name]], []).append(n)
    return readers, consumers


def _roots(nodes: Sequence[Node], index: dict[str, int]) -> list[int]:
    """Each node's buffer: its own, or for a view the one of the tensor it views."""
    roots: list[int] = []
    for i, node in enumerate(nodes):
        roots.append(roots[index[node.inputs[0]]] if node.view and node.inputs else i)
    return roots


def _upstream(nodes: Sequence[Node], index: dict[str, int]) -> list[bool]:
    """Whether a trainable weight lies at or before each node (then its gradient is computed)."""
    found: list[bool] = []
    for node in nodes:
        inputs = node.inputs
        if node.trainable or len(inputs) != 1:
            found.append(node.trainable or any(found[index[name]] for name in inputs))
        else:  # most layers read one tensor: no generator for them
            found.append(found[index[inputs[0]]])
    return found


def _moment(nodes: Sequence[Node], position: int) -> str:
    n = len(nodes)
    if position < n:
        return f"forward {nodes[position].name}"
    if position == n:
        return "loss"
    return f"backward {nodes[2 * n - position].name}"
