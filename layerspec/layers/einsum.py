"""EinsumDense: a dense layer whose product with its kernel is an einsum equation.

The equation names the input's axes (the batch first, or elided with `...`), the kernel's and the output's, as
Keras 3 reads it in one of three forms: `abc,cd->abd`, `...b,bc->...c` and `ab...,bc->ac...`. The kernel's shape
and the bias's follow from the equation, the input's shape and `output_shape` (the output without the batch axis
and without the elided axes), axis letter by axis letter, exactly as Keras derives them.

MACs: one multiply-accumulate per combination of the sizes of every axis letter of the equation and every elided
axis (an einsum's cost); the bias and the activation are not counted. An unknown dimension counts as 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from layerspec.layers.base import (
    DENSE,
    FAILS_WHEN_RUN,
    FieldRule,
    LayerSpec,
    Shape,
    ShapeError,
    Weight,
    example,
    prod_known,
    register,
)
from layerspec.layers.convolution import CPU_KERNEL
from layerspec.layers.fields import (
    Activation,
    Constraint,
    KernelInitializer,
    PositiveInt,
    Regularizer,
    VectorInitializer,
)

_AXES = "[a-zA-Z]"
# Keras's three forms (it matches only their start; the whole equation must match here).
_FORMS = (
    (re.compile(rf"({_AXES}+),({_AXES}+)->({_AXES}+)"), ""),
    (re.compile(rf"\.\.\.({_AXES}+),({_AXES}+)->\.\.\.({_AXES}+)"), "left"),
    (re.compile(rf"({_AXES}{{2,}})\.\.\.,({_AXES}+)->({_AXES}+)\.\.\."), "right"),
)
# Part of the message refusing a null in `output_shape` where the input gives the size: Keras builds the layer with
# an unknown output size there (it does not look at the input), and the model's output then has a different shape
# from the one Keras records; the differential fuzz tests count this refusal as deliberate.
LOSES_KNOWN_SIZE = "Keras would record that size as unknown although the input gives it"
# oneDNN's einsum (TensorFlow's CPU kernel on Intel CPUs with AVX-512) crashes the process on this form for some
# input sizes (a segmentation fault on (10, 14, 1) with `ab...,bc->ac...`, found by tests/fuzz), so it is refused
# everywhere, as the convolutions' CPU_KERNEL refusals are; the shape rules below still know it.
_RIGHT_ELLIPSIS = (
    "`equation` {text!r} elides the trailing axes, which " + CPU_KERNEL + " (oneDNN's einsum) crashes on for some "
    "input sizes: name every axis instead (e.g. `abcd,be->aecd` for `ab...,be->ae...` on a rank-4 input)"
)
_FORMAT = "`abc,cd->abd`, `...b,bc->...c` or `ab...,bc->ac...` (one letter per axis, the batch first)"


@dataclass(frozen=True)
class Equation:
    source: str
    input: str
    kernel: str
    output: str
    ellipsis: str  # "", "left" or "right"


def parse_equation(text: str) -> Equation:
    for pattern, ellipsis in _FORMS:
        match = pattern.fullmatch(text)
        if match:
            equation = Equation(text, match[1], match[2], match[3], ellipsis)
            _check_letters(equation)
            if ellipsis == "right":
                raise ShapeError(_RIGHT_ELLIPSIS.format(text=text), "equation")
            return equation
    raise ShapeError(f"`equation` {text!r} is not an EinsumDense equation; write it as {_FORMAT}", "equation")


def _check_letters(eq: Equation) -> None:
    for part, letters in (("input", eq.input), ("kernel", eq.kernel), ("output", eq.output)):
        if len(set(letters)) != len(letters):
            raise ShapeError(f"`equation` {eq.source!r} names an axis twice in its {part} `{letters}`", "equation")
    for letter in eq.output:
        if letter not in eq.input and letter not in eq.kernel:
            raise ShapeError(
                f"`equation` {eq.source!r}: output axis '{letter}' is in neither the input nor the kernel", "equation"
            )
    for letter in eq.kernel:
        if letter not in eq.input and letter not in eq.output:
            raise ShapeError(
                f"`equation` {eq.source!r}: kernel axis '{letter}' is in neither the input nor the output; every "
                "kernel axis needs its size from one of them",
                "equation",
            )


@dataclass(frozen=True)
class Analysis:
    """The shapes Keras derives: the full output (batch first), the kernel, the bias, and each letter's size."""

    output: Shape
    kernel: Shape
    bias: Shape | None
    sizes: dict[str, int | None]
    elided: Shape


def _full_output(eq: Equation, full: Shape, user: list[int | None], elided: int) -> list[int | None]:
    """Keras's output shape: the batch, then the elided axes (left) or `output_shape` then them (right)."""
    out: list[int | None] = [full[0], *user]
    if eq.ellipsis == "left":
        for i in range(1, elided):
            out.insert(1, full[i])  # as Keras does: each one at position 1, so they end up reversed
    elif eq.ellipsis == "right":
        out.extend(full[len(full) - elided :])
    return out


def analyse(eq: Equation, shape: Shape, output_dims: int | list[int | None], bias_axes: str | None) -> Analysis:
    full: Shape = (None, *shape)
    elided = len(full) - len(eq.input)
    if elided < 0 or (elided and not eq.ellipsis):
        raise ShapeError(
            f"`equation` {eq.source!r} names {len(eq.input)} input axes (the batch included), but the input has "
            f"{len(full)}" + (f" ({FAILS_WHEN_RUN})" if elided > 0 else ""),
            "equation",
        )
    if eq.ellipsis == "left" and len(set(full[1:elided])) > 1:
        raise ShapeError(
            f"`equation` {eq.source!r} elides input axes of different sizes {list(full[1:elided])} before the "
            f"named ones: Keras 3 records such axes in reverse order, so its output shape would be wrong; name them "
            f"({FAILS_WHEN_RUN}, or with the wrong shape)",
            "equation",
        )
    user: list[int | None] = [output_dims] if isinstance(output_dims, int) else list(output_dims)
    out = _full_output(eq, full, user, elided)
    if len(out) != len(eq.output) + elided:
        wanted = len(eq.output) + elided - (len(out) - len(user))
        raise ShapeError(
            f"`output_shape` {output_dims} has {len(user)} entries, but equation {eq.source!r} needs {wanted} (its "
            f"output axes without the batch and the elided axes; {FAILS_WHEN_RUN}, or with the wrong shape)",
            "output_shape",
        )
    left = elided if eq.ellipsis == "left" else 0
    in_index = {d: i + left for i, d in enumerate(eq.input)}
    out_index = {d: i + left for i, d in enumerate(eq.output)}
    batch_named = eq.ellipsis != "left" or elided == 0
    if batch_named and eq.output[0] != eq.input[0]:
        raise ShapeError(
            f"`equation` {eq.source!r} must keep the input's batch axis '{eq.input[0]}' first in the output "
            f"({FAILS_WHEN_RUN}, or with the wrong shape)",
            "equation",
        )
    sizes = _sizes(eq, full, out, in_index, out_index)
    kernel = tuple(sizes[d] for d in eq.kernel)
    return Analysis(tuple(out), kernel, _bias(eq, out, bias_axes, elided), sizes, _elided(eq, full, elided))


def _sizes(
    eq: Equation, full: Shape, out: list[int | None], in_index: dict[str, int], out_index: dict[str, int]
) -> dict[str, int | None]:
    sizes: dict[str, int | None] = {}
    for d in eq.input:
        sizes[d] = full[in_index[d]]
        if d in out_index and out[out_index[d]] is not None and out[out_index[d]] != full[in_index[d]]:
            raise ShapeError(
                f"`output_shape` gives axis '{d}' of equation {eq.source!r} size {out[out_index[d]]}, but the input "
                f"has size {full[in_index[d]]} there",
                "output_shape",
            )
    for d in eq.output:
        if d in in_index and out[out_index[d]] is None and full[in_index[d]] is not None:
            raise ShapeError(
                f"`output_shape` leaves axis '{d}' of equation {eq.source!r} unknown (null), but the input has size "
                f"{full[in_index[d]]} there: write {full[in_index[d]]} ({LOSES_KNOWN_SIZE})",
                "output_shape",
            )
        sizes[d] = out[out_index[d]]
    return sizes


def _bias(eq: Equation, out: list[int | None], bias_axes: str | None, elided: int) -> Shape | None:
    if bias_axes is None:
        return None
    missing = [c for c in bias_axes if c not in eq.output]
    if missing:
        raise ShapeError(
            f"`bias_axes` {bias_axes!r} names '{missing[0]}', which is not an output axis of {eq.source!r}",
            "bias_axes",
        )
    left = elided if eq.ellipsis == "left" else 0
    first = min(eq.output.find(c) for c in bias_axes)
    bias = [out[i + left] if c in bias_axes else 1 for i, c in enumerate(eq.output) if i >= first]
    if eq.ellipsis != "left":
        bias += [1] * elided
    return tuple(bias)


def _elided(eq: Equation, full: Shape, elided: int) -> Shape:
    if eq.ellipsis == "left":
        return full[:elided]
    return full[len(full) - elided :] if elided else ()


@register(DENSE)
class EinsumDense(LayerSpec):
    """A dense layer along any axes: `equation` multiplies the input by a kernel (and adds a bias on `bias_axes`)."""

    keras_kernel: ClassVar[str | None] = "kernel"

    receptive: ClassVar[FieldRule | None] = FieldRule.UNKNOWN  # it may move or mix positions across axes

    examples = (
        example((32,), equation="ab,bc->ac", output_shape=64, bias_axes="c"),
        example((5, 32), equation="abc,cd->abd", output_shape=[5, 64], bias_axes="d"),
        example((5, 32), equation="abc,cde->abde", output_shape=[5, 4, 8], bias_axes="de"),
        example((5, 32), equation="...b,bc->...c", output_shape=16, bias_axes="c", activation="relu"),
        example((5, 4, 3), equation="abcd,be->aecd", output_shape=[7, 4, 3], bias_axes="e"),
        example((None, 8), equation="abc,cd->abd", output_shape=[None, 4]),
        example((5, 8), equation="abc,bcd->ad", output_shape=3, trainable=False),
    )
    type: Literal["EinsumDense"] = Field(description="The Keras layer class.")
    equation: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        description="The product with the kernel, e.g. `abc,cd->abd` (input, kernel -> output; the batch first)."
    )
    # `output_shape` is Keras's name, but LayerSpec.output_shape is the shape rule: the field takes it as its alias.
    output_dims: PositiveInt | Annotated[list[PositiveInt | None], Field(min_length=1, max_length=8)] = Field(
        alias="output_shape",
        description="The output's shape without the batch axis and the elided axes; null only where the input's "
        "size is unknown too.",
    )
    activation: Activation = Field(default=None, description="Activation applied to the output.")
    bias_axes: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[a-zA-Z]+$")] | None = Field(
        default=None, description="Output axis letters the bias spans (e.g. `d`); null: no bias."
    )
    kernel_initializer: KernelInitializer = Field(
        default="glorot_uniform",
        description="Initializer of the kernel (an id, or a mapping with arguments).",
    )
    bias_initializer: VectorInitializer = Field(
        default="zeros",
        description="Initializer of the bias (an id, or a mapping with arguments).",
    )
    kernel_regularizer: Regularizer = Field(default=None, description="Regularizer of the kernel; null for none.")
    bias_regularizer: Regularizer = Field(default=None, description="Regularizer of the bias; null for none.")
    activity_regularizer: Regularizer = Field(
        default=None, description="Regularizer of the layer's output; null for none."
    )
    kernel_constraint: Constraint = Field(
        default=None, description="Constraint applied to the kernel after each update; null for none."
    )
    bias_constraint: Constraint = Field(
        default=None, description="Constraint applied to the bias after each update; null for none."
    )

    def analysis(self, inputs: list[Shape]) -> Analysis:
        return analyse(parse_equation(self.equation), inputs[0], self.output_dims, self.bias_axes)

    def output_shape(self, inputs: list[Shape]) -> Shape:
        return self.analysis(inputs).output[1:]

    def weights(self, inputs: list[Shape]) -> list[Weight]:
        result = self.analysis(inputs)
        kernel = _known(result.kernel, "kernel", self.equation)
        if self.kernel_initializer == "orthogonal" and len(kernel) < 2:
            raise ShapeError("the `orthogonal` initializer needs a kernel of 2 axes or more", "kernel_initializer")
        weights = [Weight("kernel", kernel, self.trainable)]
        if result.bias is not None:
            weights.append(Weight("bias", _known(result.bias, "bias", self.equation), self.trainable))
        return weights

    def macs(self, inputs: list[Shape], output: Shape) -> int:
        result = self.analysis(inputs)
        return prod_known(tuple(result.sizes.values())) * prod_known(result.elided)


def _known(shape: Shape, what: str, equation: str) -> tuple[int, ...]:
    if any(d is None for d in shape):
        raise ShapeError(
            f"EinsumDense's {what} would have an unknown size {list(shape)} under equation {equation!r}: give the "
            "size in `output_shape`, or a known input size",
            "output_shape",
        )
    return tuple(d for d in shape if d is not None)
