"""Differential tests: for random specs over the whole registry, `layerspec check` and Keras must agree.

Both must accept or both refuse; when both accept, every layer's output shape and trainable/non-trainable
parameter counts must be equal, and so must the model's total. When every input size is known, Keras also runs
the model on a batch of two random examples, in inference and in training mode: a model that fails then counts
as refused by Keras, and one that runs must give the output shapes check promised.
The Keras side (fuzz_oracle) builds each spec with plain keras.layers calls, independently of layerspec's compiler.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzz_oracle import Figures, KerasRefused, keras_figures, keras_names, run_model
from fuzz_settings import FUZZ, fuzz_examples, record
from fuzz_specgen import GENERATORS, drawn_generically, from_examples, layer_types, literal_args, specs
from hypothesis import event, given, settings
from hypothesis import strategies as st

from layerspec.check import check_file
from layerspec.errors import SpecError
from layerspec.layers import REGISTRY
from layerspec.layers.augmentation import FAILS_WHEN_RUN as AUGMENTATION_FAILS
from layerspec.layers.augmentation import RANDOM_OPERATIONS
from layerspec.layers.base import FAILS_WHEN_RUN, SHAPE_WHEN_RUN
from layerspec.layers.convolution import CPU_KERNEL
from layerspec.layers.einsum import LOSES_KNOWN_SIZE
from layerspec.layers.normalization_more import NEEDS_ADAPT
from layerspec.layers.pooling_nd import COMPILED_STEP, UNCHECKED_RANK
from layerspec.layers.preprocessing_more import SHAPE_DIFFERS
from layerspec.rules.kernels import CUDNN_ONLY

# Random specs make Keras warn (a softmax over a size-1 axis, retracing): expected here, not worth the noise.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def test_hand_written_generators_are_for_registered_types() -> None:
    assert not set(GENERATORS) - set(REGISTRY), "generators for unregistered types in tests/fuzz/fuzz_specgen.py"


@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_arguments_drawn_from_examples_are_valid(type_name: str) -> None:
    """The generator every type without a hand-written one gets (tried on every type, so that it is tried on many
    kinds of argument): it must give arguments the schema accepts, within their bounds, or the specs around such a
    type would stop at a schema error and compare nothing. (Hand-written ones break the schema now and then on
    purpose, to see both sides refuse.)"""
    draw_args = from_examples(type_name)
    seen: set[str] = set()

    @settings(FUZZ, max_examples=30)
    @given(data=st.data(), shape=st.sampled_from(sorted({e.inputs[0] for e in REGISTRY[type_name].examples}, key=str)))
    def run(data: st.DataObject, shape: tuple[int | None, ...]) -> None:
        args = {**literal_args(data.draw, type_name), **draw_args(data.draw, shape)}
        REGISTRY[type_name].model_validate({"type": type_name, **args})
        seen.update(k for k in args if not drawn_generically(type_name, k) and k != "trainable")

    run()
    written = {k for e in REGISTRY[type_name].examples for k in e.args if not drawn_generically(type_name, k)}
    written.discard("trainable")
    assert seen <= written, "only arguments that the examples write are drawn from them"
    assert bool(seen) == bool(written), "the examples' arguments are drawn"


def run_check(spec: dict[str, Any], folder: Path) -> tuple[Any, str | None]:
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    try:
        return check_file(path), None
    except SpecError as exc:
        return None, str(exc)


def run_keras(spec: dict[str, Any]) -> tuple[list[Figures], int, str | None]:
    try:
        figures, total = keras_figures(spec)
    except KerasRefused as exc:
        return [], 0, str(exc)
    # Keras builds some layers whose output has a zero-size axis (e.g. a pool window larger than a known
    # input with padding valid in some versions); layerspec refuses those on purpose (docs/testing.md).
    if any(d is not None and d <= 0 for f in figures for d in f.shape):
        return figures, total, "output with a zero-size dimension"
    return figures, total, None


def compare(spec: dict[str, Any]) -> str:
    """Run both sides on one spec; returns the outcome, or fails the test on any disagreement.

    Keras refuses a spec when it will not build the model or (if every input size is known) when the model
    fails on real data, in inference or training mode: Keras checks some things only then (a Softmax axis, an
    integer input under Conv2D, a regularizer's rank)."""
    text = yaml.safe_dump(spec, sort_keys=False)
    with tempfile.TemporaryDirectory() as folder:
        checked, refused = run_check(spec, Path(folder))
    figures, total, keras_refused = run_keras(spec)
    ran: list[list[tuple[int, ...]]] = []
    if refused and not keras_refused and COMPILED_STEP in refused and deliberate(refused):
        # Not run: TensorFlow's eager MaxPool3D kills the process (SIGFPE) on the window such a pooling uses.
        return "check refuses on purpose"
    if not keras_refused and runnable(spec):
        keras_refused = run_twice(spec, ran)
    if refused and keras_refused:
        return "both refuse"
    if refused and deliberate(refused):
        return "check refuses on purpose"
    if keras_refused and not refused and any(p in keras_refused for p in DATA_DEPENDENT):
        return "Keras fails on the random values"
    if keras_refused and not refused and warned_on_purpose(checked, keras_refused):
        return "check warns on purpose"
    assert not keras_refused, f"check accepts a spec Keras refuses ({keras_refused}):\n{text}"
    assert not refused, f"Keras builds and runs a spec check refuses:\n{refused}\n{text}"
    records = {n.index: checked.summary.record(n.name) for n in checked.graph.nodes if n.layer is not None}
    for i, fig in enumerate(figures):
        record = records[i]
        ours = (record.output_shape, record.trainable_params, record.non_trainable_params)
        theirs = (fig.shape, fig.trainable, fig.non_trainable)
        assert ours == theirs, (
            f"layers[{i}] ({record.name}, {record.type}): check says shape/trainable/non-trainable "
            f"{ours}, Keras {theirs}\n{text}"
        )
    assert checked.summary.params == total, f"total params: check {checked.summary.params}, Keras {total}\n{text}"
    expected = [(2, *checked.summary.output_shape_of(ref)) for ref in checked.summary.outputs]
    if any(shapes != expected for shapes in ran) and any(SHAPE_WHEN_RUN in d.message for d in checked.warnings):
        return "check warns on purpose"  # an output whose declared shape is not the one it has when run
    for shapes in ran:
        assert shapes == expected, f"output shapes when run: Keras {shapes}, check {expected}\n{text}"
    return "both accept, ran" if ran else "both accept"


# Errors by which check refuses, on purpose, specs that Keras builds and even runs (docs/testing.md): an integer
# or boolean input read by anything but Rescaling (Keras runs a few layers on integers, most fail), what only
# some CPUs' kernels run (oneDNN's; layerspec.layers.convolution.CPU_KERNEL), what runs only outside a compiled
# step (layerspec.layers.pooling_nd.COMPILED_STEP; this test calls models eagerly), adaptive pooling of an input of
# the wrong rank (UNCHECKED_RANK), a softmax over an axis of size 1, whose output is constant (layerspec.rules),
# what Keras builds but checks only when the model runs (FAILS_WHEN_RUN: attention inputs that do not fit, which
# this test sees fail only when every size is known), and an EinsumDense `output_shape` null where the input gives
# the size (LOSES_KNOWN_SIZE); floats read by an embedding (Keras casts them to ids); a mask reaching a layer
# that cannot take one (Keras drops it with a warning); what Keras declares with another shape than it returns
# when the model runs (SHAPE_DIFFERS, SHAPE_WHEN_RUN); an axis list naming an axis twice (Keras builds it where
# the axis has size 1); what Keras builds but cannot run on specs with unknown
# sizes; an RNN unrolling an unknown number of steps; an image without colour under an augmentation that fails
# on it only when it draws an operation that needs colour (layerspec.layers.augmentation).
DELIBERATE = (
    "which Keras's",
    CPU_KERNEL,
    COMPILED_STEP,
    UNCHECKED_RANK,
    "always outputs",
    FAILS_WHEN_RUN,
    LOSES_KNOWN_SIZE,
    "looks up integer ids",
    "fails when it runs",
    "can only unroll a known number of steps",
    RANDOM_OPERATIONS,
    AUGMENTATION_FAILS,
    NEEDS_ADAPT,
    SHAPE_DIFFERS,
    SHAPE_WHEN_RUN,
    "names the same axis twice",
)
# Keras's errors that depend on the values of the random batch, not on the spec: no static check can foresee them
# (CategoryEncoding counts categories, and a layer before it may output negative numbers).
DATA_DEPENDENT = ("Negative input value found",)


# Keras's errors for what check accepts with a warning saying so (use_cudnn: true on a machine without cuDNN).
WARNED = {CUDNN_ONLY: "use_cudnn=True was specified"}


def warned_on_purpose(checked: Any, keras_refused: str) -> bool:
    warnings = [d.message for d in checked.warnings]
    return any(k in keras_refused and any(w in m for m in warnings) for w, k in WARNED.items())


def deliberate(refused: str) -> bool:
    lines = [line for line in refused.splitlines() if ": error: " in line]
    return bool(lines) and all(any(p in line for p in DELIBERATE) for line in lines)


def runnable(spec: dict[str, Any]) -> bool:
    """Every input size known: a Reshape of an unknown size may rightly fail on real data of some size."""
    entries = [spec["input"]] if "input" in spec else spec["inputs"]
    return all(None not in e["shape"] for e in entries)


def run_twice(spec: dict[str, Any], shapes: list[list[tuple[int, ...]]]) -> str | None:
    """Run the built model in inference and in training mode; Keras's error, if any (shapes appended)."""
    for training in (False, True):
        try:
            shapes.append(run_model(spec, training))
        except KerasRefused as exc:
            return f"when run (training={training}): {exc}"
    return None


LAST_SPEC = "LAYERSPEC_FUZZ_LAST_SPEC"  # a file to write each spec to before it is compared
# Per layer type (wrapped layers counted too): how the specs containing it ended, for fuzz_report.py's table.
BY_TYPE = "differential: outcomes by type"
DISAGREEMENT = "disagreement"


def judge(spec: dict[str, Any]) -> str:
    """compare(), with a disagreement counted against every type in the spec before the test fails on it (a
    failing run counts the examples hypothesis shrinks it to as well)."""
    if os.environ.get(LAST_SPEC):
        # TensorFlow kills the process on some kernels' inputs (SIGFPE): the spec it was running is kept here.
        Path(os.environ[LAST_SPEC]).write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    try:
        return compare(spec)
    except AssertionError:
        _by_type(spec, DISAGREEMENT)
        raise


def _by_type(spec: dict[str, Any], outcome: str) -> None:
    for type_name in sorted(set().union(*(layer_types(entry) for entry in spec["layers"]))):
        record(BY_TYPE, f"{type_name}\t{outcome}")


def _note(test: str, spec: dict[str, Any], outcome: str) -> None:
    event(outcome)
    record(test, outcome)
    _by_type(spec, outcome)
    if outcome.startswith("both accept"):
        record("differential: layers compared", "layers", len(spec["layers"]))
        for entry in spec["layers"]:
            record("differential: accepted layers by type", entry["type"])


@pytest.mark.keras
@settings(FUZZ, max_examples=fuzz_examples(0.5, minimum=20))
@given(spec=specs())
def test_check_agrees_with_keras(spec: dict[str, Any]) -> None:
    _note("differential: random specs", spec, judge(spec))


@pytest.mark.keras
@pytest.mark.parametrize("type_name", sorted(REGISTRY))
def test_each_layer_type_agrees_with_keras(type_name: str) -> None:
    """A few specs built around each registered type, so every type is compared even in a short run."""

    @settings(FUZZ, max_examples=fuzz_examples(0.03, minimum=3))
    @given(spec=specs(focus=type_name, max_layers=4))
    def run(spec: dict[str, Any]) -> None:
        _note("differential: specs around each type", spec, judge(spec))

    run()


@pytest.mark.keras
@settings(FUZZ, max_examples=fuzz_examples(0.05, minimum=10))
@given(spec=specs(max_layers=6, unnamed=True))
def test_generated_names_match_keras(spec: dict[str, Any]) -> None:
    """Layers without a name get the one Keras would give them (conv2d, conv2d_1, ...)."""
    with tempfile.TemporaryDirectory() as folder:
        checked, refused = run_check(spec, Path(folder))
    theirs = keras_names(spec)
    if refused or theirs is None:
        record("differential: generated names", "refused")
        return
    ours = [n.name for n in checked.graph.nodes if n.layer is not None]
    assert ours == theirs, f"check names {ours}, Keras {theirs}\n{yaml.safe_dump(spec, sort_keys=False)}"
    record("differential: generated names", "same names")
