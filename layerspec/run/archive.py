"""`model.keras` checked before Keras loads it: a zip of the three files Keras writes, naming only known classes.

Keras's `safe_mode` refuses a Lambda's Python code, but it still builds any Keras class a config names, among them
layers that read other files when they are built (`TFSMLayer` loads a SavedModel from a path in the config). A
layerspec model is made of the layer types in layerspec's registry and the objects `compile` attaches, so every
other class name is refused before Keras reads anything.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from layerspec.errors import DataError
from layerspec.run.checks import MAX_JSON_BYTES, parse_json

MODEL_MEMBERS = frozenset({"config.json", "metadata.json", "model.weights.h5"})
MODEL_CONFIG_DEPTH = 64  # Keras nests a functional model's config about 12 levels deep
# Markers Keras's serialisation uses for values that are not objects (`__lambda__`, Python code, is not one).
VALUE_MARKERS = frozenset({"__keras_tensor__", "__tuple__", "__numpy__", "__bytes__", "__tensor__"})
# A loss, metric or activation may be saved as a plain function, looked up by name in one of these modules.
FUNCTION_MODULES = frozenset({"keras.losses", "keras.metrics", "keras.activations"})


def check_model_archive(path: Path, allowed: frozenset[str]) -> None:
    """Refuse a `model.keras` that is not a Keras archive or names a class outside `allowed` (DataError)."""
    _check_classes(read_model_config(path), path, allowed)


def read_model_config(path: Path) -> Any:
    """The parsed config.json of a `.keras` archive, read as data (bounded in size and depth); DataError if the
    file is not an archive of the files Keras writes."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            unknown = sorted(set(members) - MODEL_MEMBERS)
            if unknown or "config.json" not in members:
                found = ", ".join(unknown) if unknown else "no config.json"
                raise DataError(str(path), f"not a Keras model archive as Keras saves it ({found})")
            if members["config.json"].file_size > MAX_JSON_BYTES:
                raise DataError(str(path), "its config.json is larger than any model layerspec reads")
            text = archive.read("config.json").decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, EOFError, ValueError) as exc:
        raise DataError(str(path), f"not a readable Keras model archive (a zip file): {exc}") from None
    return parse_json(text, f"{path}: config.json", MODEL_CONFIG_DEPTH)


def _check_classes(config: Any, path: Path, allowed: frozenset[str]) -> None:
    stack: list[Any] = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if "class_name" in item:
                _check_class(item, path, allowed)
            stack.extend(item.values())


def _check_class(item: dict[str, Any], path: Path, allowed: frozenset[str]) -> None:
    name, module, registered = item.get("class_name"), item.get("module"), item.get("registered_name")
    if module is None and name in VALUE_MARKERS:
        return
    keras_module = isinstance(module, str) and (module == "keras" or module.startswith("keras."))
    custom = registered is not None and registered != name
    known = module in FUNCTION_MODULES if name == "function" else name in allowed and not custom
    if keras_module and known:
        return
    what = f"'{name}' from module '{module}'" + (f" registered as '{registered}'" if custom else "")
    raise DataError(
        str(path),
        f"the model holds {what}, which no layerspec spec builds (a Lambda, a custom class or a layer that "
        "loads other files is never loaded): rebuild the run with `layerspec build`",
    )


def keras_classes(keras: Any, layer_types: set[str]) -> frozenset[str]:
    """The class names a layerspec model may hold: its layers, models, dtype policies and the compile objects."""
    names = {*layer_types, "InputLayer", "Functional", "Sequential", "Model", "DTypePolicy", "FloatDTypePolicy"}
    namespaces = (
        keras.initializers, keras.regularizers, keras.constraints, keras.optimizers, keras.optimizers.schedules,
        keras.losses, keras.metrics,
    )  # fmt: skip
    for namespace in namespaces:
        names |= {name for name in dir(namespace) if isinstance(getattr(namespace, name, None), type)}
    return frozenset(names)
