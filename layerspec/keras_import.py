"""`layerspec import`: a saved Keras model's architecture as a spec, read from its config as data.

The `.keras` archive's config.json is parsed as JSON and nothing more: no `keras.saving` call, no deserialised
object, no module a config names is imported. Every layer must be a class of `keras.layers` that the registry
describes; a Lambda, a custom or registered class, or a layer from any other module is refused, naming it.
Arguments are written as a person would write them: those equal to the registry's defaults (which are Keras's)
are left out, and `inputs:` appears only where the graph is not a straight chain. The spec text is then checked
like any other spec before it is returned, so what `import` writes, `check` and `build` accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from layerspec.errors import ModelRefused
from layerspec.keras_import_calls import (
    NESTED,
    CallReader,
    mask_machinery,
    ref,
    schema_field,
    strip_wrapper_names,
    without_keras_own,
)
from layerspec.keras_import_values import annotate, object_value, rewrite_item
from layerspec.layers import REGISTRY, LayerSpec
from layerspec.run.archive import read_model_config

MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})
# Config keys the registry does not model, with the values that mean Keras's default behaviour; any other value
# changes what the layer does and cannot be written in a spec.
NEUTRAL: dict[str, tuple[Any, ...]] = {
    "data_format": ("channels_last", None),
    "activity_regularizer": (None,),
    "kernel_constraint": (None,),
    "bias_constraint": (None,),
    "beta_constraint": (None,),
    "gamma_constraint": (None,),
    "depthwise_constraint": (None,),
    "pointwise_constraint": (None,),
    "synchronized": (False,),
    "renorm": (False,),
    "renorm_clipping": (None,),
    "renorm_momentum": (0.99,),
    "seed": (None,),
    "quantization_config": (None,),
    "lora_rank": (None,),
    "lora_alpha": (None,),
}
# Keras's spelling of a default the registry writes as None.
MEANS_NONE = frozenset({("activation", "linear"), ("data_format", "channels_last")})
# Window arguments a person writes as one number when every axis has the same value (3 for [3, 3]).
WINDOWS = frozenset({"kernel_size", "strides", "dilation_rate", "pool_size", "size"})
SKIPPED = frozenset({"name", "trainable", "dtype", "build_config"})


@dataclass(frozen=True)
class Imported:
    text: str  # the spec, as YAML
    name: str
    layers: int
    inputs: list[str]
    outputs: list[str]
    # Nodes written as another layer that computes the same (an operation layer `x + 3` as a Rescaling).
    notes: list[str] = field(default_factory=list)


def import_model(path: Path) -> Imported:
    """The spec of the Keras model saved at `path` (a `.keras` archive); ModelRefused (exit 2) when it cannot
    be one, DataError (exit 3) when the file is not a Keras archive."""
    config = read_model_config(path)
    where = str(path)
    if not isinstance(config, dict) or config.get("class_name") not in MODEL_CLASSES:
        found = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ModelRefused(where, f"the archive holds a {found!r}, not a Keras Functional or Sequential model")
    body = config.get("config")
    if not isinstance(body, dict) or not isinstance(body.get("layers"), list):
        raise ModelRefused(where, "the model's config has no list of layers")
    converter = _Converter(where, _keras_defaults())
    sequential = config["class_name"] == "Sequential"
    spec = converter.sequential(body) if sequential else converter.functional(body)
    text = annotate(_yaml(spec, path), converter.notes)
    _verify(text, path)
    names = spec.get("inputs") or [spec["input"]]
    outputs = spec.get("outputs") or [spec["layers"][-1]["name"]]
    return Imported(
        text=text,
        name=spec["name"],
        layers=len(spec["layers"]),
        inputs=[i.get("name", "input") for i in names],
        outputs=[outputs] if isinstance(outputs, str) else list(outputs),
        notes=converter.notes,
    )


class _Converter:
    def __init__(self, where: str, defaults: dict[str, dict[str, Any]]) -> None:
        self.where = where
        self.defaults = defaults  # Keras's own config of each initializer/regularizer id, to recognise defaults
        self.notes: list[str] = []  # substitutions made (keras_import_values.rewrite_item)

    # ------------------------------------------------------------------------------------------- graphs

    def functional(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        previous: str | None = None
        masks = mask_machinery(body["layers"])  # Keras's propagated masks, made again when the spec is built
        reader = CallReader(self.where, masks)
        for item in body["layers"]:
            if isinstance(item, dict) and item.get("name") in masks:
                continue
            layer = self._layer_item(item)
            if layer["class_name"] == "InputLayer":
                inputs.append(self._input(layer))
                previous = layer["name"]
                continue
            entry = self.entry(layer)
            call = reader.read(layer)
            sources = call.sources
            if sources != [previous]:
                entry["inputs"] = sources[0] if len(sources) == 1 else sources
            if call.call:
                entry["call"] = call.call
            entries.append(entry)
            previous = layer["name"]
        entries += reader.share_entries({e["name"] for e in entries} | {i["name"] for i in inputs})
        outputs = [ref(r) for r in _refs(body.get("output_layers"))]
        return self._spec(body, inputs, entries, outputs, _refs(body.get("input_layers")))

    def sequential(self, body: dict[str, Any]) -> dict[str, Any]:
        items = [self._layer_item(item) for item in body["layers"]]
        inputs = [self._input(item) for item in items if item["class_name"] == "InputLayer"]
        if not inputs:
            shape = body.get("build_input_shape")
            if not isinstance(shape, list) or len(shape) < 2:
                raise ModelRefused(self.where, "the Sequential model has no input shape: build it before saving")
            inputs = [{"name": "input", "shape": list(shape[1:])}]
        entries = [self.entry(item) for item in items if item["class_name"] != "InputLayer"]
        return self._spec(body, inputs, entries, [], [])

    def _spec(
        self,
        body: dict[str, Any],
        inputs: list[dict[str, Any]],
        entries: list[dict[str, Any]],
        outputs: list[str],
        input_refs: list[list[Any]],
    ) -> dict[str, Any]:
        if not entries:
            raise ModelRefused(self.where, "the model has no layers besides its inputs")
        order = [ref[0] for ref in input_refs]
        if order:
            inputs.sort(key=lambda i: order.index(i["name"]) if i["name"] in order else len(order))
        spec: dict[str, Any] = {"name": _model_name(body.get("name"))}
        if len(inputs) == 1:
            spec["input"] = inputs[0]
        else:
            spec["inputs"] = inputs
        spec["layers"] = entries
        if outputs and outputs != [entries[-1]["name"]]:
            spec["outputs"] = outputs[0] if len(outputs) == 1 else outputs
        return spec

    def _layer_item(self, item: Any) -> dict[str, Any]:
        item = rewrite_item(item, self.notes)  # `x + 3` (an operation layer) as the Rescaling it is, and more
        if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
            raise ModelRefused(self.where, "a layer entry of the model's config is not a Keras layer config")
        name = item.get("name") or (item.get("config") or {}).get("name")
        cls, module, registered = item["class_name"], item.get("module"), item.get("registered_name")
        label = f"layer {name!r} ({cls})"
        if module != "keras.layers" or (registered is not None and registered != cls):
            origin = f"module {module!r}" + (f", registered as {registered!r}" if registered else "")
            raise ModelRefused(
                self.where,
                f"{label} comes from {origin}, not keras.layers: layerspec imports only Keras's built-in "
                "layers, and never loads code from a model file",
            )
        if cls != "InputLayer" and cls not in REGISTRY:
            raise ModelRefused(self.where, f"{label}: layerspec's registry has no {cls} (see `layerspec schema`)")
        return {**item, "name": name, "config": item.get("config") or {}}

    def _input(self, layer: dict[str, Any]) -> dict[str, Any]:
        config = layer["config"]
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if not isinstance(shape, list) or len(shape) < 2:
            raise ModelRefused(self.where, f"input {layer['name']!r} has no shape")
        spec: dict[str, Any] = {"name": layer["name"], "shape": list(shape[1:])}
        if config.get("dtype", "float32") != "float32":
            spec["dtype"] = config["dtype"]
        if config.get("sparse") or config.get("ragged"):
            raise ModelRefused(self.where, f"input {layer['name']!r} is sparse or ragged, which a spec cannot say")
        return spec

    # ------------------------------------------------------------------------------------------- arguments

    def entry(self, layer: dict[str, Any]) -> dict[str, Any]:
        cls: type[LayerSpec] = REGISTRY[layer["class_name"]]
        layer = without_keras_own(layer)
        config = layer["config"]
        entry: dict[str, Any] = {"type": layer["class_name"], "name": layer["name"]}
        if config.get("trainable") is False:
            entry["trainable"] = False
        self._dtype(layer)
        for key, value in config.items():
            if key in SKIPPED:
                continue
            field = schema_field(cls, key)
            if field is None or key in ("type", "inputs"):
                if key not in NEUTRAL or value not in NEUTRAL[key]:
                    raise ModelRefused(
                        self.where,
                        f"layer {layer['name']!r} ({layer['class_name']}): argument {key}={value!r} is not one "
                        "layerspec's schema has, and it is not Keras's default",
                    )
                continue
            written = self._value(value, layer, key)
            if key in WINDOWS and isinstance(written, list) and written and len(set(written)) == 1:
                written = written[0]
            if not _same(written, field.default):
                entry[key] = written
        return strip_wrapper_names(layer, entry)

    def _dtype(self, layer: dict[str, Any]) -> None:
        dtype = layer["config"].get("dtype")
        name = (dtype.get("config") or {}).get("name") if isinstance(dtype, dict) else dtype
        if name not in (None, "float32"):
            raise ModelRefused(
                self.where,
                f"layer {layer['name']!r} computes in {name!r}: a spec sets precision for the whole model "
                "(train.mixed_precision), so save the model in float32 to import it",
            )

    def _value(self, value: Any, layer: dict[str, Any], key: str) -> Any:
        if key in NESTED and isinstance(value, dict):  # a wrapper's layer: a nested entry, held to the same rules
            return self.entry(self._layer_item(without_keras_own(value, layer["class_name"])))
        if isinstance(value, dict) and "class_name" in value:
            return self._object(value, layer, key)
        if isinstance(value, list):
            return [self._value(v, layer, key) for v in value]
        if (key, value) in MEANS_NONE:
            return None  # how the registry writes Keras's default
        return value

    def _object(self, value: dict[str, Any], layer: dict[str, Any], key: str) -> Any:
        """An initializer or regularizer: its string id, or a mapping of its arguments (keras_import_values)."""
        label = f"layer {layer['name']!r} ({layer['class_name']}): {key}"
        return object_value(value, label, self.where, self.defaults)


def _refs(value: Any) -> list[list[Any]]:
    """Keras writes one [name, node, tensor] reference bare and several as a list of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return [v for v in value if isinstance(v, list)] if isinstance(value, list) else []


def _same(written: Any, default: Any) -> bool:
    """Whether a value means the field's default: 1 and [1, 1] are the same stride."""
    if written == default:
        return True
    if isinstance(written, list) and not isinstance(default, list) and written:
        return all(v == default for v in written)
    return False


def _model_name(name: Any) -> str:
    text = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(name or "imported"))
    return text if re.match(r"[A-Za-z_]", text) else f"m_{text}"


def _keras_defaults() -> dict[str, dict[str, Any]]:
    """Keras's config of every initializer and regularizer id a spec can name (importing Keras itself only)."""
    from typing import get_args

    from layerspec.compile import keras_module
    from layerspec.layers import fields

    keras = keras_module()
    initializers = get_args(fields.InitializerName)
    while any(get_args(i) for i in initializers):  # Literal[Literal[...], "identity"] nests
        initializers = tuple(a for i in initializers for a in (get_args(i) or (i,)))
    regularizers = list(get_args(fields.KernelRegularizer2DName))
    defaults = {str(i): keras.initializers.get(i).get_config() for i in initializers}
    defaults |= {str(r): keras.regularizers.get(r).get_config() for r in regularizers}
    return defaults


def _yaml(spec: dict[str, Any], source: Path) -> str:
    """One flow mapping per layer, as the hand-written specs are laid out."""
    head = {k: v for k, v in spec.items() if k not in ("layers", "outputs")}
    lines = [f"# {spec['name']}: imported from {source.name} by `layerspec import`.", ""]
    lines.append(yaml.safe_dump(head, sort_keys=False, default_flow_style=None, width=120).rstrip())
    lines.append("")
    lines.append("layers:")
    for entry in spec["layers"]:
        lines.append("  - " + yaml.safe_dump(entry, sort_keys=False, default_flow_style=True, width=10_000).strip())
    if "outputs" in spec:
        lines.append("")
        # A single name in flow style would be `{outputs: NAME}`, a mapping where a key belongs.
        flow = None if isinstance(spec["outputs"], list) else False
        lines.append(yaml.safe_dump({"outputs": spec["outputs"]}, default_flow_style=flow).rstrip())
    return "\n".join(lines) + "\n"


def _verify(text: str, source: Path) -> None:
    """The written spec must check; a failure is a mapping layerspec got wrong, reported as such."""
    from layerspec.check import check_loaded
    from layerspec.errors import SpecError
    from layerspec.spec import parse_spec

    try:
        check_loaded(parse_spec(text, Path(f"{source.stem}.yaml")))
    except SpecError as exc:
        detail = "; ".join(d.message for d in exc.diagnostics[:3])
        raise ModelRefused(str(source), f"the model cannot be written as a spec that checks: {detail}") from None
