"""Shape arithmetic the layer types' rules share: the shape type, the error a rule raises, and the window and
channel computations convolutions, pooling and cropping all need."""

from __future__ import annotations

import math
from collections.abc import Sequence

Shape = tuple[int | None, ...]


class ShapeError(ValueError):
    """A layer cannot be applied to its inputs.

    `field` names the argument to point at, if any; `clash` the positions of two inputs that do not fit
    together, so the message can name those inputs and their shapes (the rule knows only positions).
    """

    def __init__(self, message: str, field: str | None = None, clash: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.clash = clash


def as_tuple(value: int | Sequence[int], rank: int, what: str) -> tuple[int, ...]:
    """An int or a sequence of `rank` ints, as Keras's `standardize_tuple` accepts them."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise ShapeError(f"`{what}` must be an integer or a list of {rank} integers; received {list(value)}", what)
    return tuple(value)


def conv_length(size: int | None, kernel: int, stride: int, padding: str, dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis."""
    if size is None:
        return None
    if padding in ("same", "causal"):
        return -(-size // stride)
    effective = kernel + (kernel - 1) * (dilation - 1)
    return (size - effective) // stride + 1


def spatial(shape: Shape, rank: int, layer: str) -> tuple[Shape, int | None]:
    """Split a channels-last shape into its `rank` spatial dimensions and its channels."""
    if len(shape) != rank + 1:
        raise ShapeError(
            f"{layer} expects an input of rank {rank + 2} (batch, {rank} spatial dimension(s), channels); "
            f"received shape {format_shape(shape)}"
        )
    return shape[:rank], shape[rank]


def known_channels(channels: int | None, layer: str) -> int:
    if channels is None:
        raise ShapeError(f"{layer} needs a known number of input channels; the last dimension is unknown")
    return channels


def check_positive(dims: Shape, layer: str, hint: str, field: str | None = None) -> None:
    """A window or crop that leaves nothing: the error points at `field`, the argument to change."""
    if any(d is not None and d <= 0 for d in dims):
        raise ShapeError(
            f"{layer} output would have a dimension of size zero or less {format_shape(dims)}; {hint}", field
        )


def format_shape(shape: Sequence[int | None]) -> str:
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def prod_known(shape: Shape) -> int:
    """Product of the dimensions, treating unknown ones as 1 (MACs per known element)."""
    return math.prod(d for d in shape if d is not None)
