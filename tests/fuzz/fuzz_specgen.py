"""Hypothesis strategies for random model specs over the whole layer registry.

A spec is grown layer by layer. To keep most generated specs valid (so that shapes and counts are compared, not
only rejections), each new layer's arguments are drawn with the shape of its input in mind, and the input shapes
are tracked with layerspec's own per-layer rules. Those rules only steer the generator: the judge of every spec
is Keras (see fuzz_oracle.py). When a drawn layer is not applicable, the generator keeps it with some
probability and stops there, so every spec that both sides must reject is also produced.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from typing import Any

from fuzz_objects import draw_object, object_choices
from hypothesis import strategies as st
from pydantic import ValidationError

from layerspec.layers import REGISTRY, ShapeError
from layerspec.layers.base import AUGMENTATION, PREPROCESSING
from layerspec.spec.models import InputSpec

Shape = tuple[int | None, ...]
Args = dict[str, Any]
Draw = Callable[[st.SearchStrategy[Any]], Any]
ArgGen = Callable[[Draw, Shape], Args]

# Arguments set by the generator functions below; every other Literal/bool argument is drawn generically.
_SHAPE_ARGS = {
    "type",
    "name",
    "inputs",
    "kernel_size",
    "strides",
    "padding",
    "dilation_rate",
    "filters",
    "groups",
    "depth_multiplier",
    "output_padding",
    "units",
    "axis",
    "pool_size",
    "keepdims",
    "target_shape",
    "cropping",
    "size",
    "rate",
    "noise_shape",
    "seed",
    "factor",
    "height_factor",
    "width_factor",
    "scale",
    "offset",
    "max_value",
    "negative_slope",
    "threshold",
    "epsilon",
    "momentum",
    "fill_value",
    "trainable",
    "layer",
    "backward_layer",
    "stateful",  # always refused (a spec's batch size is open): tests/cases/bad/rnn_stateful.yaml holds it
}


def _dim(shape: Shape, i: int) -> int:
    """A known size for axis i, or a small stand-in for an unknown one (used to pick window sizes)."""
    d = shape[i] if i < len(shape) else None
    return 4 if d is None else d


def _int_or_list(draw: Draw, values: list[int], rank: int) -> int | list[int]:
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    return values


def _window(draw: Draw, shape: Shape, rank: int, *, allow_big: bool = True) -> list[int]:
    """Kernel sizes mostly no larger than the input (occasionally larger, a case both sides must reject)."""
    out = []
    for i in range(rank):
        top = max(1, min(_dim(shape, i), 7))
        if allow_big and draw(st.integers(0, 19)) == 0:
            top = _dim(shape, i) + 2
        out.append(draw(st.integers(1, top)))
    return out


def _same_or_each(draw: Draw, rank: int, low: int, high: int) -> list[int]:
    if draw(st.booleans()):
        return [draw(st.integers(low, high))] * rank
    return [draw(st.integers(low, high)) for _ in range(rank)]


def _strides_dilation(draw: Draw, rank: int) -> tuple[list[int], list[int]]:
    """Strides > 1 and dilation > 1 together are refused by Keras; draw that rarely, as a rejection case."""
    strides = _same_or_each(draw, rank, 1, 4)
    dilation = [1] * rank
    if max(strides) == 1 or draw(st.integers(0, 9)) == 0:
        dilation = _same_or_each(draw, rank, 1, 4) if draw(st.booleans()) else dilation
    return strides, dilation


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _conv(draw: Draw, shape: Shape, rank: int) -> Args:
    kernel = _window(draw, shape, rank)
    strides, dilation = _strides_dilation(draw, rank)
    args: Args = {"kernel_size": _int_or_list(draw, kernel, rank)}
    if max(strides) > 1 or draw(st.booleans()):
        args["strides"] = _int_or_list(draw, strides, rank)
    if max(dilation) > 1:
        args["dilation_rate"] = _int_or_list(draw, dilation, rank)
    pads = ["valid", "same", "causal"] if rank == 1 else ["valid", "same"]
    if draw(st.booleans()):
        args["padding"] = draw(st.sampled_from(pads))
    return args


def _filter_conv(rank: int) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        args = _conv(draw, shape, rank)
        channels = shape[-1] if shape and shape[-1] is not None else 1
        groups = draw(st.sampled_from(_divisors(channels))) if draw(st.integers(0, 3)) == 0 else 1
        if draw(st.integers(0, 29)) == 0:
            groups = draw(st.integers(2, 4))  # probably not a divisor: a rejection case
        args["filters"] = groups * draw(st.integers(1, 4))
        if groups > 1:
            args["groups"] = groups
        return args

    return gen


def _transpose(rank: int) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        args = _conv(draw, shape, rank)
        args["filters"] = draw(st.integers(1, 6))
        if draw(st.integers(0, 2)) == 0:
            strides = args.get("strides", 1)
            top = (strides if isinstance(strides, int) else min(strides)) - 1
            if draw(st.integers(0, 9)) == 0:
                top += 1  # output_padding equal to the stride: refused by both
            args["output_padding"] = draw(st.integers(0, max(top, 0)))
        return args

    return gen


def _depthwise(rank: int) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        args = _conv(draw, shape, rank)
        if draw(st.booleans()):
            args["depth_multiplier"] = draw(st.integers(1, 3))
        return args

    return gen


def _separable(rank: int) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        return {**_depthwise(rank)(draw, shape), "filters": draw(st.integers(1, 6))}

    return gen


def _axis(draw: Draw, shape: Shape, *, wrong: bool = True) -> int:
    """A Keras axis (batch = 0): positive or negative, occasionally (if `wrong`) out of range. Never the batch
    axis itself: Keras lets some layers work across the batch, layerspec refuses that on purpose (docs/testing.md)."""
    rank = len(shape) + 1
    if wrong and draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([rank, -rank - 1]))
    positive = draw(st.integers(1, rank - 1))
    return positive if draw(st.booleans()) else positive - rank


def _norm(*, allow_list: bool) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        args: Args = {}
        if draw(st.booleans()):
            args["axis"] = _axis(draw, shape)
        if allow_list and draw(st.integers(0, 9)) == 0:
            axes = draw(st.lists(st.integers(1, len(shape)), min_size=1, max_size=len(shape), unique=True))
            args["axis"] = axes
        if draw(st.booleans()):
            args["epsilon"] = draw(st.sampled_from([1e-5, 1e-3, 0.01, 1e-6]))
        return args

    return gen


def _batch_norm(draw: Draw, shape: Shape) -> Args:
    args = _norm(allow_list=True)(draw, shape)
    if draw(st.booleans()):
        args["momentum"] = draw(st.sampled_from([0.0, 0.9, 0.99, 1.0]))
    return args


def _pool(rank: int) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        args: Args = {}
        if draw(st.integers(0, 9)):  # Keras has no default pool_size: leaving it out is a rejection case
            args["pool_size"] = _int_or_list(draw, _window(draw, shape, rank), rank)
        if draw(st.booleans()):
            args["strides"] = _int_or_list(draw, _same_or_each(draw, rank, 1, 3), rank)
        if draw(st.booleans()):
            args["padding"] = draw(st.sampled_from(["valid", "same"]))
        return args

    return gen


def _relu(draw: Draw, shape: Shape) -> Args:
    args: Args = {}
    if draw(st.booleans()):
        args["max_value"] = draw(st.sampled_from([None, 6.0, 1.0, 0.0]))
    if draw(st.booleans()):
        args["negative_slope"] = draw(st.sampled_from([0.0, 0.1, 0.3]))
    if draw(st.booleans()):
        args["threshold"] = draw(st.sampled_from([0.0, 0.5, 1.0, 0.0, 0.5, -1.0]))
    return args


def _leaky(draw: Draw, shape: Shape) -> Args:
    return {"negative_slope": draw(st.sampled_from([0.0, 0.01, 0.2, 1.5]))} if draw(st.booleans()) else {}


def _softmax(draw: Draw, shape: Shape) -> Args:
    if draw(st.integers(0, 3)) == 0:
        return {"axis": draw(st.lists(st.integers(1, len(shape)), min_size=1, max_size=len(shape), unique=True))}
    # In range only: Keras builds a Softmax over a missing axis (and fails when it runs); layerspec refuses it.
    return {"axis": _axis(draw, shape, wrong=False)} if draw(st.booleans()) else {}


def _rescaling(draw: Draw, shape: Shape) -> Args:
    args: Args = {"scale": draw(st.sampled_from([1 / 255, 2.0, -1.0, 0.5]))}
    if draw(st.booleans()):
        args["offset"] = draw(st.sampled_from([0.0, -1.0, 0.5]))
    return args


_FACTOR = st.floats(0.0, 1.0, allow_nan=False).map(lambda f: round(f, 3))


def _factor_range(draw: Draw) -> float | list[float]:
    if draw(st.booleans()):
        return draw(_FACTOR)
    low, high = sorted([draw(_FACTOR), draw(_FACTOR)])
    return [-low, high]


def _augment(*factors: str, optional: tuple[str, ...] = ()) -> ArgGen:
    def gen(draw: Draw, shape: Shape) -> Args:
        args = {f: _factor_range(draw) for f in factors}
        args.update({f: _factor_range(draw) for f in optional if draw(st.booleans())})
        if draw(st.booleans()):
            args["seed"] = draw(st.integers(0, 2**31))
        return args

    return gen


def _contrast(draw: Draw, shape: Shape) -> Args:
    factor: float | list[float] = draw(_FACTOR)
    if draw(st.booleans()):
        factor = sorted([draw(_FACTOR), draw(_FACTOR)])
    args: Args = {"factor": factor}
    if draw(st.booleans()):
        args["value_range"] = draw(st.sampled_from([[0.0, 1.0], [0.0, 255.0], [-1.0, 1.0]]))
    return args


def _dropout(draw: Draw, shape: Shape) -> Args:
    args: Args = {"rate": draw(st.sampled_from([0.0, 0.1, 0.5, 0.999]))}
    if draw(st.integers(0, 3)) == 0:
        args["noise_shape"] = [None, *(draw(st.sampled_from([1, d])) for d in shape)]
    return args


def _pad_value(draw: Draw, high: int) -> int | list[int] | list[int | list[int]]:
    """n, [rows, cols], [[top, bottom], [left, right]] or the two mixed ([1, [0, 2]])."""
    style = draw(st.integers(0, 3))
    pick = st.integers(0, high)
    if style == 0:
        return draw(pick)
    if style == 1:
        return [draw(pick), draw(pick)]
    if style == 2:
        return [[draw(pick), draw(pick)], [draw(pick), draw(pick)]]
    pair = [draw(pick), draw(pick)]
    return [draw(pick), pair] if draw(st.booleans()) else [pair, draw(pick)]


def _zero_padding(draw: Draw, shape: Shape) -> Args:
    return {"padding": _pad_value(draw, 3)} if draw(st.integers(0, 3)) else {}


def _cropping(draw: Draw, shape: Shape) -> Args:
    high = max(0, min(_dim(shape, 0), _dim(shape, 1)) // 2)
    if draw(st.integers(0, 19)) == 0:
        high += 2  # crops the whole image: refused by both
    return {"cropping": _pad_value(draw, high)} if draw(st.integers(0, 3)) else {}


def _upsampling(draw: Draw, shape: Shape) -> Args:
    return {"size": _int_or_list(draw, _same_or_each(draw, 2, 1, 4), 2)} if draw(st.booleans()) else {}


def _factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1 and p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def _reshape(draw: Draw, shape: Shape) -> Args:
    known = [d for d in shape if d is not None]
    total = math.prod(known) if len(known) == len(shape) else draw(st.integers(1, 24))
    primes = draw(st.permutations(_factors(total)))
    rank = draw(st.integers(1, 4))
    dims = [1] * rank
    for p in primes:
        dims[draw(st.integers(0, rank - 1))] *= p
    if draw(st.integers(0, 2)) == 0:
        dims[draw(st.integers(0, rank - 1))] = -1
    if draw(st.integers(0, 19)) == 0:
        dims[0] += 1  # the values no longer fit: refused by both
    return {"target_shape": dims}


def _concatenate(draw: Draw, shape: Shape) -> Args:
    return {"axis": _axis(draw, shape)} if draw(st.booleans()) else {}


_RNNS = ("LSTM", "GRU", "SimpleRNN")
# Layers with a kernel, for SpectralNormalization (now and then it gets any other layer: a rejection case).
_KERNELS = ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "EinsumDense")


def nested(draw: Draw, type_name: str, shape: Shape) -> Args:
    """A wrapped layer's entry (`layer:` of a wrapper), its arguments drawn for the shape it reads; never `call:`
    (the wrapper calls it; an example's call arguments are left out)."""
    args = {k: v for k, v in layer_args(draw, type_name, shape).items() if k != "call"}
    return {"type": type_name, **args}


def _bidirectional(draw: Draw, shape: Shape) -> Args:
    inner = draw(st.sampled_from(_RNNS)) if draw(st.integers(0, 19)) else _pick_type(draw, shape)
    layer = nested(draw, inner, shape)
    args: Args = {"layer": layer}
    if inner in _RNNS and draw(st.integers(0, 3)) == 0:
        # Its own backward layer: the same kind reading the other way (now and then other units: refused by both).
        backward = {**nested(draw, inner, shape), "go_backwards": not layer.get("go_backwards", False)}
        for key in ("units", "return_sequences", "return_state"):
            if key in layer and draw(st.integers(0, 9)):
                backward[key] = layer[key]
            elif key in layer:
                backward.pop(key, None)
        args["backward_layer"] = backward
    return args


def _time_distributed(draw: Draw, shape: Shape) -> Args:
    step = shape[1:]
    if not step:
        return {"layer": nested(draw, "Dense", (4,))}  # a vector has no steps: refused by both
    return {"layer": nested(draw, _pick_type(draw, step, wrapped=True), step)}


def _spectral(draw: Draw, shape: Shape) -> Args:
    kinds = [t for t in _KERNELS if input_rank(t) in (None, len(shape))]
    inner = draw(st.sampled_from(kinds)) if draw(st.integers(0, 9)) else _pick_type(draw, shape, wrapped=True)
    return {"layer": nested(draw, inner, shape)}


def layer_types(entry: Args) -> set[str]:
    """The entry's type and those of the layers it wraps (`layer`, `backward_layer`), however deep."""
    found = {str(entry["type"])}
    for key in ("layer", "backward_layer"):
        if isinstance(entry.get(key), dict):
            found |= layer_types(entry[key])
    return found


def input_rank(type_name: str) -> int | None:
    """Rank (batch left out) of the input the type needs, from its registry entry; None: any rank. Used only to
    pick types that fit the current tensor."""
    rank = REGISTRY[type_name].rank
    return None if rank is None else rank + 1


# Hand-written generators, for the types where knowing the input's shape or Keras's limits matters: windows that
# fit (and now and then do not), divisors for groups, axes in and out of range, target shapes with the same number
# of values. Every other type's arguments are drawn from its contract examples (see from_examples).
GENERATORS: dict[str, ArgGen] = {
    "Conv1D": _filter_conv(1),
    "Conv2D": _filter_conv(2),
    "Conv3D": _filter_conv(3),
    "Conv1DTranspose": _transpose(1),
    "Conv2DTranspose": _transpose(2),
    "Conv3DTranspose": _transpose(3),
    "DepthwiseConv1D": _depthwise(1),
    "DepthwiseConv2D": _depthwise(2),
    "SeparableConv1D": _separable(1),
    "SeparableConv2D": _separable(2),
    "BatchNormalization": _batch_norm,  # a list of axes is drawn too: both must refuse it
    "LayerNormalization": _norm(allow_list=True),
    "ReLU": _relu,
    "LeakyReLU": _leaky,
    "Softmax": _softmax,
    "MaxPooling2D": _pool(2),
    "AveragePooling2D": _pool(2),
    "MaxPooling1D": _pool(1),
    "AveragePooling1D": _pool(1),
    "MaxPooling3D": _pool(3),
    "AveragePooling3D": _pool(3),
    "ZeroPadding2D": _zero_padding,
    "Cropping2D": _cropping,
    "UpSampling2D": _upsampling,
    "Reshape": _reshape,
    "Dropout": _dropout,
    "Rescaling": _rescaling,
    "RandomRotation": _augment("factor"),
    "RandomZoom": _augment("height_factor", optional=("width_factor",)),
    "RandomTranslation": _augment("height_factor", "width_factor"),
    "RandomContrast": _contrast,
    "Concatenate": _concatenate,
    "Bidirectional": _bidirectional,
    "TimeDistributed": _time_distributed,
    "SpectralNormalization": _spectral,
}

MERGES = sorted(t for t, cls in REGISTRY.items() if cls.max_inputs != 1)


def _literal_choices(annotation: Any) -> tuple[list[Any], bool]:
    """The Literal values (and whether None is allowed) of a field annotation; ([], False) if not a Literal."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation)), False
    if origin in (typing.Union, types.UnionType):
        values: list[Any] = []
        optional = False
        for arg in typing.get_args(annotation):
            if arg is type(None):
                optional = True
                continue
            inner, _ = _literal_choices(arg)
            if not inner:
                return [], False
            values += inner
        return values, optional
    return [], False


def literal_args(draw: Draw, type_name: str) -> Args:
    """Every other Literal or bool argument of the layer's spec model: drawn from what layerspec accepts,
    so a value layerspec allows but Keras refuses (or the other way round) shows up as a disagreement."""
    args: Args = {}
    for name, info in REGISTRY[type_name].model_fields.items():
        field = info.alias or name
        if field in _SHAPE_ARGS:
            continue
        if info.annotation is bool:
            if draw(st.integers(0, 3)) == 0:
                args[field] = draw(st.booleans())
            continue
        values, optional = _literal_choices(info.annotation)
        if values and (info.is_required() or draw(st.integers(0, 3)) == 0):
            args[field] = draw(st.sampled_from(values + ([None] if optional else [])))
        objects = object_choices(info.annotation)
        if objects is not None and draw(st.integers(0, 7)) == 0:  # rarer: a layer has up to five of them
            args[field] = draw_object(draw, objects)
    return args


def field_info(type_name: str, key: str) -> Any:
    """The spec model's field for argument `key` as a spec writes it (a field's alias, e.g. `output_shape`)."""
    fields = REGISTRY[type_name].model_fields
    return next(info for name, info in fields.items() if (info.alias or name) == key)


def drawn_generically(type_name: str, key: str) -> bool:
    """Whether literal_args draws `key` (a Literal or bool argument the hand-written generators leave alone)."""
    info = field_info(type_name, key)
    drawn = info.annotation is bool or bool(_literal_choices(info.annotation)[0])
    return key not in _SHAPE_ARGS and (drawn or object_choices(info.annotation) is not None)


def _vary(draw: Draw, value: Any) -> Any:
    """A value near `value`: each int within half to twice itself, each float within half to one and a half."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        low, high = sorted((value // 2, value * 2 + 1))
        return draw(st.integers(low, high))
    if isinstance(value, float):
        return round(value * draw(st.floats(0.5, 1.5)), 4)
    if isinstance(value, list):
        return [_vary(draw, v) for v in value]
    return value


def _valid_args(type_name: str, args: Args) -> bool:
    try:
        REGISTRY[type_name].model_validate({"type": type_name, **args})
    except ValidationError:
        return False
    return True


def from_examples(type_name: str) -> ArgGen:
    """Arguments from one of the type's contract examples (mostly one for the input's rank), each numeric
    value varied within what the schema allows (its Field bounds: a value outside them is put back), optional
    ones sometimes left out. The examples are small and valid, so the specs drawn stay small and mostly valid."""
    examples = REGISTRY[type_name].examples

    def gen(draw: Draw, shape: Shape) -> Args:
        fitting = [e for e in examples if len(e.inputs[0]) == len(shape)]
        if not fitting or draw(st.integers(0, 3)) == 0:
            fitting = list(examples)  # arguments written for another rank: often refused, by both sides
        chosen = draw(st.sampled_from(fitting)).args
        args: Args = {}
        for key, value in chosen.items():
            if drawn_generically(type_name, key):
                continue
            if not field_info(type_name, key).is_required() and draw(st.integers(0, 3)) == 0:
                continue
            args[key] = value
            if draw(st.booleans()):
                varied = _vary(draw, value)
                # Checked with the example's other arguments, so a required one not reached yet is there.
                if _valid_args(type_name, {**chosen, **args, key: varied}):
                    args[key] = varied
        return args

    return gen


def generator(type_name: str) -> ArgGen:
    """The type's hand-written generator, or one drawing from its contract examples."""
    return GENERATORS.get(type_name) or from_examples(type_name)


def layer_args(draw: Draw, type_name: str, shape: Shape) -> Args:
    args = {**literal_args(draw, type_name), **generator(type_name)(draw, shape)}
    if draw(st.integers(0, 9)) == 0:
        args["trainable"] = False
    return args


# ---- whole specs --------------------------------------------------------------------------------------------


def _input_shape(draw: Draw, rank: int | None = None) -> list[int | None]:
    kinds = {3: ["image"], 2: ["sequence"], 4: ["volume"], 5: ["video"]}.get(
        rank or 0, ["image", "image", "image", "sequence", "vector", "volume"]
    )
    kind = draw(st.sampled_from(kinds))
    size = st.integers(1, 16)
    unknown = draw(st.integers(0, 9)) == 0
    channels = draw(st.integers(1, 6))
    if kind == "image":
        h, w = draw(size), draw(size)
        if unknown:  # both spatial sizes unknown, or just one of them
            return draw(st.sampled_from([[None, None, channels], [None, w, channels], [h, None, channels]]))
        return [h, w, channels]
    if kind == "sequence":
        return [None if unknown else draw(size), channels]
    if kind == "vector":
        return [draw(st.integers(1, 32))]
    small = st.integers(1, 4)
    if kind == "video":  # steps of volumes, for ConvLSTM3D (mostly large enough for its default kernel of 3)
        side = st.integers(1 if draw(st.integers(0, 4)) == 0 else 3, 7)
        return [draw(small), draw(side), draw(side), draw(side), channels]
    return [draw(small), draw(small), draw(small), channels]


def _infer(entry: Args, shapes: list[Shape]) -> Shape | None:
    """layerspec's own rule for the entry, or None if it refuses (used only to steer the generator)."""
    try:
        layer = REGISTRY[entry["type"]].model_validate(entry)
        out = layer.output_shape(shapes)
        layer.weights(shapes)
        return out
    except (ShapeError, ValidationError, ValueError, TypeError, IndexError, ZeroDivisionError):
        return None


def _outputs(entry: Args, shapes: list[Shape]) -> list[Shape]:
    """Every output's shape, by layerspec's rule (only to steer the generator)."""
    try:
        return REGISTRY[entry["type"]].model_validate(entry).output_shapes(shapes)
    except (ShapeError, ValidationError, ValueError, TypeError, IndexError, ZeroDivisionError):
        return []


def _image_only(type_name: str) -> bool:
    """An augmentation, or a preprocessing layer of a set rank (Resizing, CenterCrop, MelSpectrogram): Keras builds
    them on another rank and fails when the model runs; layerspec refuses that on purpose."""
    cls = REGISTRY[type_name]
    return cls.family is AUGMENTATION or (cls.family is PREPROCESSING and cls.rank is not None)


def reads_ids(type_name: str) -> bool:
    """Whether the type's examples read integers (an embedding, hashing, crossing)."""
    return any(e.dtype != "float32" for e in REGISTRY[type_name].examples)


def _pick_type(draw: Draw, shape: Shape, *, wrapped: bool = False) -> str:
    """A type for a layer reading `shape`; `wrapped`: for a wrapper's `layer`, which may not read several inputs,
    nor be an augmentation (Keras fails on those under TimeDistributed only when the model runs)."""
    rank = len(shape)
    fitting = [t for t in REGISTRY if t not in MERGES and input_rank(t) in (None, rank)]
    if wrapped:
        fitting = [t for t in fitting if not _image_only(t)]
    if draw(st.integers(0, 9)):
        # Mostly no type that reads integer ids: the tensor here is rarely of an integer dtype (the specs around
        # such a type give it an integer input).
        fitting = [t for t in fitting if not reads_ids(t)] or fitting
    if draw(st.integers(0, 24)) == 0:
        # Any type, even one that needs another rank; but not an augmentation on a non-image, which Keras
        # builds (and fails on when run) and layerspec refuses on purpose (docs/testing.md).
        fitting = [t for t in REGISTRY if t not in MERGES and not _image_only(t)]
    return str(draw(st.sampled_from(sorted(fitting))))


def _merge_sources(draw: Draw, tensors: list[tuple[str, Shape]], type_name: str) -> list[tuple[str, Shape]]:
    """Two or three tensors, preferring ones of the same shape (or same rank for Concatenate)."""
    high = min(REGISTRY[type_name].max_inputs or 3, 3)
    count = draw(st.integers(2, high))
    first = draw(st.sampled_from(tensors))
    if type_name == "Concatenate":
        alike = [t for t in tensors if len(t[1]) == len(first[1])]
    else:
        alike = [t for t in tensors if t[1] == first[1] or t[1][-1:] == first[1][-1:]]
    pool = alike if draw(st.integers(0, 9)) else tensors
    return [first, *(draw(st.sampled_from(pool)) for _ in range(count - 1))]


@st.composite
def specs(draw: Draw, max_layers: int = 8, focus: str | None = None, unnamed: bool = False) -> Args:
    """A random spec (as a plain dict ready for YAML), sequential or DAG-shaped, with one to three inputs.

    With `focus`, one of the first layers is of that type (and the input has the rank it needs); with `unnamed`,
    a sequential spec whose layers all get generated names."""
    dag = not unnamed and (draw(st.integers(0, 2)) > 0 or focus in MERGES)
    n_inputs = draw(st.sampled_from([1, 1, 1, 2, 3])) if dag else 1
    # Half the specs around a type start from the input shapes of one of its examples (a HashedCrossing's (1,),
    # a MelSpectrogram's long signal, a ConvLSTM3D's video), so that many of them are accepted and compared.
    like = draw(st.sampled_from(REGISTRY[focus].examples)) if focus and draw(st.booleans()) else None
    if like and dag:
        n_inputs = max(n_inputs, len(like.inputs))
    first = list(like.inputs[0]) if like else _input_shape(draw, input_rank(focus) if focus else None)
    n_layers = draw(st.integers(1, max_layers))
    focus_at = draw(st.integers(1 if focus in MERGES else 0, 2)) if focus else -1
    # A type that reads integer ids (an embedding) reads the first input, given an integer dtype.
    ids = focus is not None and reads_ids(focus) and draw(st.integers(0, 3)) > 0
    if ids:
        focus_at = 0
    n_layers = max(n_layers, focus_at + 1)
    inputs = []
    for i in range(n_inputs):
        from_like = like is not None and i < len(like.inputs)
        shape = like.inputs[i] if like and from_like else first if i == 0 or draw(st.booleans()) else _input_shape(draw)
        entry: Args = {"shape": list(shape)}
        if i > 0 or draw(st.booleans()):
            entry["name"] = f"in{i}"
        if ids and (i == 0 or from_like):
            entry["dtype"] = like.dtype if like and like.dtype != "float32" else "int32"
        elif draw(st.integers(0, 9)) == 0:
            entry["dtype"] = draw(st.sampled_from(_literal_choices(InputSpec.model_fields["dtype"].annotation)[0]))
        inputs.append(entry)
    names = [entry.get("name", "input") for entry in inputs]
    tensors: list[tuple[str, Shape]] = [(n, tuple(e["shape"])) for n, e in zip(names, inputs, strict=True)]
    named = not unnamed and (dag or draw(st.booleans()))
    layers: list[Args] = []
    consumed: set[str] = set()
    for k in range(n_layers):
        # `len(layers)`, not k, says whether this is the first layer (which must read the first input).
        entry, sources = _next_layer(draw, tensors, dag, len(layers), focus if k == focus_at else None)
        if named:
            entry = {"name": f"l{k}", **entry}
        if dag:
            refs = [s[0] for s in sources]
            entry["inputs"] = refs[0] if len(refs) == 1 and draw(st.booleans()) else refs
        if draw(st.integers(0, 2)) == 0:
            entry = _with_call(draw, entry, tensors if dag else [])
        out = _infer(entry, [s[1] for s in sources])
        if k < focus_at and (out is None or reads_ids(entry["type"])):
            continue  # left out (an id reader too: its input is float), so the layer the spec is built around comes
        consumed.update([s[0] for s in sources] + call_refs(entry))
        layers.append(entry)
        if out is None:
            break  # a layer both sides should refuse: nothing after it would be checked
        tensors.append((f"l{k}", out))
        if dag:  # the further outputs of a layer with several (an RNN's states), read as `l3[1]`
            tensors += [(f"l{k}[{i}]", shape) for i, shape in enumerate(_outputs(entry, [s[1] for s in sources])) if i]
    return _finish(draw, inputs, layers, consumed, named)


def call_refs(entry: Args) -> list[str]:
    """The layer references among the entry's `call:` arguments (`initial_state`)."""
    model = REGISTRY[entry["type"]].call_schema()
    refs: list[str] = []
    for key in model.tensor_fields:
        value = entry.get("call", {}).get(key)
        refs += [value] if isinstance(value, str) else list(value or [])
    return refs


def _states(draw: Draw, entry: Args, tensors: list[tuple[str, Shape]]) -> list[str] | None:
    """Tensors to start a plain recurrent layer from: as many vectors as it has states, all of one size (its
    `units` set to that size); now and then any tensor, which both sides refuse. None when there is none."""
    vectors = [t for t in tensors if len(t[1]) == 1 and t[1][0] is not None]
    if not tensors or (entry["type"] not in _RNNS and draw(st.integers(0, 4))):
        return None
    count = 2 if entry["type"] == "LSTM" else 1
    if entry["type"] not in _RNNS or not vectors or draw(st.integers(0, 19)) == 0:
        if vectors and draw(st.integers(0, 4)):
            return None
        return [draw(st.sampled_from(tensors))[0] for _ in range(count)]
    size = draw(st.sampled_from(vectors))[1]
    alike = [t[0] for t in vectors if t[1] == size]
    entry["units"] = size[0]
    return [draw(st.sampled_from(alike)) for _ in range(count)]


def _with_call(draw: Draw, entry: Args, tensors: list[tuple[str, Shape]]) -> Args:
    """`call:` arguments for a type that takes them: its Literal and bool ones drawn, layer references
    (`initial_state`) to earlier tensors of the right shape where the spec has names."""
    model = REGISTRY[entry["type"]].call_schema()
    if not model.model_fields:
        return entry
    call: Args = {}
    for name, info in model.model_fields.items():
        if name in model.tensor_fields:
            refs = _states(draw, entry, tensors) if name == "initial_state" else None
            if refs:
                call[name] = refs[0] if len(refs) == 1 and draw(st.booleans()) else refs
            continue
        values, optional = _literal_choices(info.annotation)
        if info.annotation is bool or "bool" in str(info.annotation):
            values = [True, False]
        if values:
            call[name] = draw(st.sampled_from(values + ([None] if optional else [])))
    return {**entry, "call": call} if call else entry


def _next_layer(
    draw: Draw, tensors: list[tuple[str, Shape]], dag: bool, k: int, forced: str | None
) -> tuple[Args, list[Any]]:
    latest = tensors[-1] if k > 0 else tensors[0]
    merge = forced in MERGES if forced else dag and len(tensors) > 1 and draw(st.integers(0, 3)) == 0
    if merge:
        type_name = forced or str(draw(st.sampled_from(MERGES)))
        sources = _merge_sources(draw, tensors, type_name)
        # The first layer reads the first input; make sure it does, so no input is ever left out.
        if k == 0 and tensors[0] not in sources:
            sources[0] = tensors[0]
        return {"type": type_name, **layer_args(draw, type_name, sources[0][1])}, sources
    source = draw(st.sampled_from(tensors)) if dag and k > 0 and draw(st.integers(0, 2)) == 0 else latest
    further = [t for t in tensors if "[" in t[0]]  # a layer's further outputs (`l3[1]`): read them often
    if further and draw(st.booleans()):
        source = draw(st.sampled_from(further))
    if forced and _image_only(forced) and input_rank(forced) != len(source[1]):
        forced = None  # augmentations need images (a deliberate difference, see _pick_type)
    type_name = forced or _pick_type(draw, source[1])
    return {"type": type_name, **layer_args(draw, type_name, source[1])}, [source]


def _finish(draw: Draw, inputs: list[Args], layers: list[Args], consumed: set[str], named: bool) -> Args:
    """Drop inputs nothing reads (layerspec refuses unused inputs) and list every unread layer as an output."""
    used_inputs = [e for i, e in enumerate(inputs) if i == 0 or e.get("name") in consumed]
    spec: Args = {"name": "fuzz"}
    if len(used_inputs) == 1 and draw(st.booleans()):
        spec["input"] = used_inputs[0]
    else:
        spec["inputs"] = used_inputs
    spec["layers"] = layers
    if named:
        read = {ref.split("[", 1)[0] for ref in consumed}
        sinks = [e["name"] for e in layers if e["name"] not in read]
        if sinks != [layers[-1]["name"]] or draw(st.booleans()):
            spec["outputs"] = sinks[0] if len(sinks) == 1 and draw(st.booleans()) else sinks
    return spec
