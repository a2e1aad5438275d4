"""The compile stage: turn a checked spec into a Keras functional model (imports TensorFlow), and prove it.

`compile_model` wires one Keras layer per spec entry. `verify_model` then reads every layer's output shape and
weights back from Keras and compares them with the static inference that `check` printed: the two are computed
independently, so any disagreement is a bug in a layer rule (or in the wiring) and must never pass silently.
`check_memory` runs before any of this, so a model too large for the machine is refused before TensorFlow
allocates anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from layerspec.check import Checked
from layerspec.errors import CompilerBug, Diagnostic, SpecError
from layerspec.graph import MAX_MODEL_DEPTH, Node
from layerspec.layers import LayerSpec, Shape, Weight, default_name, format_shape
from layerspec.layers.base import split_ref
from layerspec.layers.objects import keras_objects
from layerspec.shapes import LayerRecord, ModelSummary, check_expectations

# Building and training holds float32 weights, their gradients and two Adam moments: four copies of every
# parameter, before activations. Refusing beyond that is a floor, not a promise that smaller models fit.
BYTES_PER_PARAM = 4
COPIES_WHILE_TRAINING = 4
# Frames for Keras's recursive graph walks: two per layer of the deepest model `check` accepts, and room for the
# frames under them (the command, TensorFlow, the saving code).
KERAS_RECURSION_LIMIT = 2 * MAX_MODEL_DEPTH + 2_000


def keras_module() -> Any:
    """Import Keras with TensorFlow's start-up chatter kept off the terminal.

    TensorFlow's C++ side logs while it loads and looks for devices (oneDNN notices, "could not find cuda drivers",
    a failed cuInit on a machine without a GPU), some of it before TF_CPP_MIN_LOG_LEVEL is read. Those lines go
    to a temporary file instead of stderr, where layerspec's own messages must stand alone; they are shown if the
    import fails, or always with LAYERSPEC_DEBUG=1.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "keras" not in sys.modules:
        from layerspec.tooldirs import point_tools_at_cache

        point_tools_at_cache()  # Keras writes its keras.json at import: into layerspec's cache, not ~/.keras
    # Keras builds, saves and loads a functional model recursively, one frame per layer along the longest path
    # (Python's default limit of 1,000 failed at about 975 Dense layers in a row); `check` refuses models deeper
    # than MAX_MODEL_DEPTH, so this is always enough. Python calls Python without using the C stack (3.11+), so a
    # higher limit is safe; it is set for the whole command, since train, evaluate and predict load the model too.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), KERAS_RECURSION_LIMIT))
    if "keras" in sys.modules:
        return sys.modules["keras"]
    with _stderr_held_back():
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()  # device discovery (and its log lines) happens here, not mid-command
    return keras


@contextlib.contextmanager
def _stderr_held_back() -> Iterator[None]:
    """Send file descriptor 2 (what C++ libraries write to) to a temporary file for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed or os.environ.get("LAYERSPEC_DEBUG"):
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))


# ---- memory: refuse before allocating ----------------------------------------------------------------------------


def available_memory() -> int:
    """Bytes this process can still allocate: MemAvailable, capped by a cgroup (container) limit if any."""
    available = _meminfo_available()
    if available is None:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    limit = _cgroup_headroom()
    return min(available, limit) if limit is not None else available


def _meminfo_available() -> int | None:
    try:
        lines = Path("/proc/meminfo").read_text(encoding="ascii").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key == "MemAvailable":
            return int(value.split()[0]) * 1024
    return None


def _cgroup_headroom() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii").strip()
    except OSError:
        return None
    if not limit.isdigit() or not used.isdigit():
        return None  # "max": no limit
    return max(int(limit) - int(used), 0)


def training_bytes(params: int) -> int:
    return params * BYTES_PER_PARAM * COPIES_WHILE_TRAINING


def check_memory(checked: Checked, available: int | None = None) -> None:
    """Refuse (SpecError) a model whose weights, gradients and optimizer state exceed the free memory."""
    summary = checked.summary
    needed = training_bytes(summary.params)
    free = available_memory() if available is None else available
    if needed <= free:
        return
    largest = max(summary.layers, key=lambda r: r.params)
    node = checked.graph.by_name[largest.name]
    message = (
        f"the model is too large for this machine: {summary.params:,} parameters need about "
        f"{_gigabytes(needed)} to build and train (weights, gradients and optimizer state, "
        f"{BYTES_PER_PARAM * COPIES_WHILE_TRAINING} bytes per parameter), but only {_gigabytes(free)} of memory "
        f"is available; the largest layer is {node.label()} with {largest.params:,} parameters: make it smaller"
    )
    raise SpecError([checked.loaded.source.diagnostic(node.path, message)])


def _gigabytes(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


# ---- building ------------------------------------------------------------------------------------------------------


def compile_model(checked: Checked) -> Any:
    """A `keras.Model` with one Keras layer per spec entry, names kept and the graph wired as written."""
    keras = keras_module()
    tensors: dict[str, Any] = {}
    layers: dict[str, Any] = {}  # the Keras layer of each entry, which a share entry calls again
    for node in checked.graph.nodes:
        tensors[node.name] = _apply(keras, checked, node, tensors, layers)
    graph = checked.graph
    inputs = [tensors[n.name] for n in graph.input_nodes]
    outputs = [_tensor(tensors, name) for name in graph.outputs]
    return keras.Model(
        inputs=inputs[0] if len(inputs) == 1 else inputs,
        outputs=outputs[0] if len(outputs) == 1 else outputs,
        name=checked.loaded.spec.name,
    )


def _apply(keras: Any, checked: Checked, node: Node, tensors: dict[str, Any], layers: dict[str, Any]) -> Any:
    if node.layer is None:
        assert node.input_spec is not None
        spec = node.input_spec
        return keras.Input(shape=tuple(spec.shape), name=node.name, dtype=spec.dtype)
    layer_spec = node.layer
    args = [_tensor(tensors, ref) for ref in node.inputs]
    try:
        # Always the graph's name: Keras's own default names count up across models built in one process.
        layer = layers[node.shares] if node.shares is not None else keras_layer(keras, layer_spec, node.name)
        layers[node.name] = layer
        call = layer_spec.call
        kwargs = call.keras_kwargs(lambda ref: _tensor(tensors, ref)) if call is not None else {}
        out = layer_spec.keras_call(layer, args, **kwargs)
        # A layer of several outputs (an RNN with return_state) returns them as a list or tuple.
        return list(out) if isinstance(out, (list, tuple)) else out
    except (ValueError, TypeError) as exc:
        # The static check accepted this layer, so Keras refusing it means a rule in layerspec is wrong.
        raise _bug(checked, node, f"was refused by Keras although the static check passed it: {exc}") from exc


def keras_layer(keras: Any, spec: LayerSpec, name: str) -> Any:
    """The Keras layer of a layer spec, named `name`; a wrapper's nested layers are built first (named as written,
    or after the wrapper: `bi_lstm` for an unnamed LSTM inside `bi`)."""
    args = {**spec.keras_arguments(), **keras_objects(keras, spec), "name": name}
    for key, inner in spec.nested().items():
        args[key] = keras_layer(keras, inner, inner.name or f"{name}_{default_name(inner.type)}")
    return getattr(keras.layers, spec.type)(**args)


def _tensor(tensors: dict[str, Any], ref: str) -> Any:
    """The tensor `NAME` or `NAME[i]` refers to: the i-th output of a layer with several."""
    name, index = split_ref(ref)
    value = tensors[name]
    return value[index] if isinstance(value, list) else value


# ---- proof: Keras's figures against the static inference -------------------------------------------------------


def built_summary(checked: Checked, model: Any) -> ModelSummary:
    """The static summary with each layer's output shape and weights replaced by what Keras built.

    MACs are not something Keras reports, so they are carried over from the static records.
    """
    built_names = {layer.name for layer in model.layers}
    records = []
    for record in checked.summary.layers:
        if checked.graph.by_name[record.name].shares is not None:
            records.append(record)  # another call of a shared layer: Keras's layer is the shared one, checked there
            continue
        if record.name not in built_names:
            raise _bug(checked, checked.graph.by_name[record.name], "layer is missing from the built Keras model")
        records.append(_built_record(record, model.get_layer(record.name)))
    extra = built_names - {r.name for r in records}
    if extra:
        raise CompilerBug(checked.loaded.filename, f"the built Keras model has layers the spec lacks: {sorted(extra)}")
    return dataclasses.replace(checked.summary, layers=tuple(records))


def _built_record(record: LayerRecord, layer: Any) -> LayerRecord:
    outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
    shapes = tuple(tuple(None if d is None else int(d) for d in t.shape[1:]) for t in outputs)
    weights = [Weight(w.path, tuple(int(d) for d in w.shape), True) for w in layer.trainable_weights]
    weights += [Weight(w.path, tuple(int(d) for d in w.shape), False) for w in layer.non_trainable_weights]
    return dataclasses.replace(record, output_shape=shapes[0], output_shapes=shapes, weights=tuple(weights))


def cross_check(checked: Checked, built: ModelSummary, model: Any) -> None:
    """Raise CompilerBug naming every layer whose built shape or parameter counts differ from the static ones."""
    problems: list[Diagnostic] = []
    for static, actual in zip(checked.summary.layers, built.layers, strict=True):
        for what, expected, got in _figures(static, actual):
            if expected != got:
                node = checked.graph.by_name[static.name]
                problems.append(_bug_diagnostic(checked, node, f"{what}: static inference {expected}, Keras {got}"))
    total = int(model.count_params())
    if total != checked.summary.params:  # weights Keras holds outside the layers the spec lists
        message = f"the built model has {total:,} parameters in total, the static inference {checked.summary.params:,}"
        problems.append(Diagnostic(checked.loaded.filename, 0, 0, message))
    if problems:
        bug = CompilerBug(checked.loaded.filename, problems[0].message)
        bug.diagnostics = problems
        raise bug


def _figures(static: LayerRecord, actual: LayerRecord) -> list[tuple[str, str, str]]:
    return [
        ("output shape", _shapes(static.output_shapes), _shapes(actual.output_shapes)),
        ("trainable params", f"{static.trainable_params:,}", f"{actual.trainable_params:,}"),
        ("non-trainable params", f"{static.non_trainable_params:,}", f"{actual.non_trainable_params:,}"),
    ]


def _shapes(shapes: tuple[Shape, ...]) -> str:
    return ", ".join(format_shape((None, *shape)) for shape in shapes)


def verify_model(checked: Checked, model: Any) -> ModelSummary:
    """Cross-check the built model layer by layer and in total, then hold it to the spec's `expect:`."""
    built = built_summary(checked, model)
    cross_check(checked, built, model)
    check_expectations(checked.graph, built)
    return built


def _bug_diagnostic(checked: Checked, node: Node, message: str) -> Diagnostic:
    text = f"{node.label()}: {node.type} {message}; this is a bug in layerspec, please report it"
    return checked.loaded.source.diagnostic(node.path, text)


def _bug(checked: Checked, node: Node, message: str) -> CompilerBug:
    diagnostic = _bug_diagnostic(checked, node, message)
    bug = CompilerBug(diagnostic.path, diagnostic.message)
    bug.diagnostics = [diagnostic]
    return bug
