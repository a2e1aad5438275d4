"""Rules on the model together with its data and training: what the input pipeline feeds it, and layers whose
output cannot depend on their input."""

from __future__ import annotations

from typing import Any

from layerspec.errors import Diagnostic
from layerspec.graph import Node
from layerspec.layers import LayerSpec, Shape, format_shape
from layerspec.layers.base import FAILS_WHEN_RUN, split_ref
from layerspec.rules.base import Context, rule
from layerspec.spec.yaml_source import SourcePath


@rule
def folder_images_fit_input(ctx: Context) -> list[Diagnostic]:
    """Folder images decode to (height, width, channels), resized to data.image_size or to the input's size."""
    data, shape = ctx.data, ctx.input_shape
    if data is None or shape is None or data.format != "folder":
        return []
    if len(shape) != 3:
        return [
            ctx.error(
                ("data", "format"),
                f"folder images decode to (height, width, channels), but the model's input is "
                f"{format_shape(shape)}: give the input a shape such as [64, 64, 3]",
            )
        ]
    problems = []
    channels = 3 if data.color_mode == "rgb" else 1
    if shape[2] is not None and shape[2] != channels:
        problems.append(
            ctx.error(
                ("data", "color_mode"),
                f"color_mode '{data.color_mode}' decodes images to {channels} channel(s), but the model's input "
                f"{format_shape(shape)} has {shape[2]}: change data.color_mode or the input shape",
            )
        )
    if data.image_size is None and None in shape[:2]:
        problems.append(
            ctx.error(
                ("data", "format"),
                f"the model's input {format_shape(shape)} has no fixed height and width, so folder images have no "
                "size to be resized to: set data.image_size, e.g. [64, 64]",
            )
        )
    elif data.image_size is not None and not _fits(tuple(data.image_size), shape[:2]):
        problems.append(
            ctx.error(
                ("data", "image_size"),
                f"images are resized to {format_shape(data.image_size)}, but the model's input is "
                f"{format_shape(shape)}: make data.image_size the input's height and width",
            )
        )
    return problems


def _fits(actual: Shape, expected: Shape) -> bool:
    return all(e is None or a == e for a, e in zip(actual, expected, strict=True))


@rule
def augment_needs_images(ctx: Context) -> list[Diagnostic]:
    """train.augment flips, shifts and rotates images: the input must be one, (height, width, channels)."""
    shape = ctx.input_shape
    if ctx.train is None or shape is None or not ctx.train.augment.active or len(shape) == 3:
        return []
    return [
        ctx.error(
            ("train", "augment"),
            f"train.augment changes images of shape (height, width, channels), but the model's input is "
            f"{format_shape(shape)}: remove train.augment, or feed the model images",
        )
    ]


@rule
def translate_fits_input(ctx: Context) -> list[Diagnostic]:
    """A shift as large as the image leaves none of it (and its reflected edge needs a smaller one)."""
    shape = ctx.input_shape
    if ctx.train is None or ctx.data is None or shape is None or len(shape) != 3:
        return []
    size = ctx.data.image_size
    height, width = (shape[0] or (size[0] if size else None)), (shape[1] or (size[1] if size else None))
    known = [d for d in (height, width) if d is not None]
    shift = ctx.train.augment.translate
    if not known or shift < min(known):
        return []
    return [
        ctx.error(
            ("train", "augment", "translate"),
            f"translate {shift} shifts images by as many pixels as they are high or wide ({height} x {width}, the "
            f"model's input): use at most {min(known) - 1}; a few pixels (e.g. 4) is usual",
        )
    ]


def _size(shape: Shape, axis: int) -> int | None:
    """The size of `axis` counted as Keras does (0 is the batch axis, which `shape` leaves out)."""
    index = axis - 1 if axis > 0 else axis
    return shape[index] if -len(shape) <= index < len(shape) else None


@rule
def softmax_over_several_values(ctx: Context) -> list[Diagnostic]:
    """A softmax over one value is 1.0 (a log-softmax 0.0) whatever its input: nothing before it can learn."""
    if ctx.graph is None or ctx.summary is None:
        return []
    problems = []
    for node in ctx.graph.nodes:
        found = node.layer.softmax_axes() if node.layer is not None else None
        if found is None:
            continue
        name, axes = found
        shape = ctx.summary.record(node.name).output_shape
        if all(_size(shape, axis) == 1 for axis in axes):
            constant = "1.0" if name == "softmax" else "0.0"
            problems.append(
                ctx.error(
                    _field(node, ("units", "filters")),
                    f"{node.label()}: a {name} over an axis of size 1 always outputs {constant}, whatever the input, "
                    "so nothing can be learnt: give it one unit per class (2 or more), or use sigmoid for a single "
                    "yes/no output",
                )
            )
    return problems


def _field(node: Node, names: tuple[str, ...]) -> SourcePath:
    """Where the first of `names` that the layer has was written (or would be), else the layer entry."""
    for name in names:
        if node.layer is not None and name in type(node.layer).model_fields and node.origin is not None:
            return node.origin.field_path(name)
    return node.path


def _on_pixels(nodes: list[Node]) -> set[str]:
    """The layers that see the data's values: those reading model inputs only, directly or through preprocessing
    and augmentation layers. A Rescaling deeper in (MobileNetV3's `x * (1 / 6)`, imported) scales features."""
    seen: set[str] = set()
    for node in nodes:  # in graph order: a node's sources come before it
        layer = node.layer
        passes = layer is None or layer.input_scale() is not None or layer.family.name in PIXEL_FAMILIES
        if passes and all(source in seen for source in node.sources):
            seen.add(node.name)
    return seen


# Layers a pixel passes through and is still a pixel (resized, cropped, flipped, rescaled).
PIXEL_FAMILIES = ("preprocessing", "augmentation")


@rule
def scaled_once(ctx: Context) -> list[Diagnostic]:
    """A Rescaling that shrinks pixels data.scale already divided: the model sees them scaled twice."""
    data = ctx.data
    if ctx.graph is None or data is None or ctx.loaded.spec.data is None or data.scale <= 1:
        return []
    scale_path = ("data", "scale")
    if ctx.written(scale_path):
        where = f"line {ctx.line(scale_path)}"
    else:
        where = f"by default, in the data: section of line {ctx.loaded.source.locate(('data',), key=True).line}"
    problems = []
    on_pixels = _on_pixels(ctx.graph.nodes)
    for node in ctx.graph.nodes:
        scale = node.layer.input_scale() if node.layer is not None else None
        if scale is not None and abs(scale) < 1 and node.name in on_pixels:
            problems.append(
                ctx.warning(
                    node.path,
                    f"{node.label()} multiplies by {scale:.6g} pixels that data.scale ({where}) already "
                    f"divides by {data.scale:g}: they are scaled twice (8-bit pixels end up in [0, "
                    f"{255 / data.scale * abs(scale):.2g}]); keep one of them (data.scale: 1, or remove the "
                    f"{node.type} layer)",
                )
            )
    return problems


_DECLARED: dict[tuple[type[Any], str], Any] = {}


def _declared(cls: type[Any], name: str) -> Any:
    """What a layer class declares as `name`, or None: asked of each class once, as asking a pydantic model for an
    attribute it lacks is slow and these rules ask it of every layer."""
    key = (cls, name)
    if key not in _DECLARED:
        _DECLARED[key] = getattr(cls, name, None)
    return _DECLARED[key]


def _any_declares(ctx: Context, name: str) -> bool:
    """Whether any layer type of the model declares `name`: the rules about integers look no further otherwise."""
    assert ctx.graph is not None
    types = {type(node.layer) for node in ctx.graph.nodes if node.layer is not None}
    return any(_declared(cls, name) for cls in types)


def _integer_output(layer: LayerSpec | None) -> bool:
    """Whether a layer gives integers (a type with an `integer_output` method, e.g. HashedCrossing in int mode)."""
    if not callable(_declared(type(layer), "integer_output")):
        return False
    return bool(layer.integer_output())  # type: ignore[union-attr]


@rule
def reads_integers(ctx: Context) -> list[Diagnostic]:
    """A layer that hashes integer values (a type with `reads_integers`, e.g. HashedCrossing) must read integers:
    Keras builds it on floats and fails only when the model runs."""
    if ctx.graph is None:
        return []
    graph, errors = ctx.graph, []
    if not _any_declares(ctx, "reads_integers"):
        return []
    dtypes = {n.name: n.input_spec.dtype for n in graph.input_nodes if n.input_spec is not None}
    for node in graph.nodes:
        if node.layer is None or not _declared(type(node.layer), "reads_integers"):
            continue
        for ref in node.inputs:
            dtype = dtypes.get(ref) or (
                "int64" if _integer_output(graph.by_name[split_ref(ref)[0]].layer) else "float32"
            )
            if not dtype.startswith(("int", "uint")):
                errors.append(
                    ctx.error(
                        (*node.path, "inputs"),
                        f"{node.label()}: {node.type} reads integers, but '{ref}' gives {dtype} values "
                        f"({FAILS_WHEN_RUN}): read an input of dtype int32 or int64 (`dtype:` under `inputs:`)",
                    )
                )
    return errors


@rule
def integer_output_read(ctx: Context) -> list[Diagnostic]:
    """A layer's integer output (HashedCrossing's bin indices) read by a layer that does not cast its input: the
    same rule as for integer model inputs (layerspec.graph_checks.integer_inputs)."""
    if ctx.graph is None:
        return []
    if not _any_declares(ctx, "integer_output"):
        return []
    graph, errors = ctx.graph, []
    for node in graph.nodes:
        if node.layer is None or node.layer.casts_input:
            continue
        for ref in node.inputs:
            source = graph.by_name[split_ref(ref)[0]]
            if _integer_output(source.layer):
                errors.append(
                    ctx.error(
                        node.path,
                        f"{node.label()} reads the integer output of '{ref}' ({source.type}), which Keras's "
                        f"{node.type} cannot compute on reliably: set `output_mode: one_hot` on '{ref}', or read it "
                        "with a layer that converts integers",
                    )
                )
    return errors
