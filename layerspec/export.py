"""`layerspec export`: a trained run's model in the formats models are deployed in, taking raw pixels.

The exported model is the run's Keras model behind a `Rescaling` layer that divides by the data section's
`scale`, so whoever calls it feeds pixel values as they are (0-255 for 8-bit images) and never needs to know the
spec. Keras's own `Model.export` writes each format (a SavedModel with a `serving_default` signature, a LiteRT
flatbuffer, an ONNX graph through tf2onnx); the folder beside it holds `labels.txt` (class names in output order)
and `export.json`, which says how to call it. The folder is made under a hidden name and renamed into place, so an
export is complete or absent, and an existing one is replaced only when asked.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from layerspec.errors import UsageError
from layerspec.run import RunFolder
from layerspec.run.folder import Stage
from layerspec.run.models import Name, PathText, Record, Sha256
from layerspec.run.replace import publish, staged

ExportFormat = Literal["saved_model", "litert", "onnx"]


@dataclass(frozen=True)
class Format:
    keras_name: str  # the `format` Model.export knows it by
    artefact: str  # file (or folder) name inside the export folder
    snippet: str  # how to call it, with {path}, {h}, {w}, {c} filled in


FORMATS: dict[str, Format] = {
    "saved_model": Format(
        "tf_saved_model",
        "saved_model",
        'serve = tf.saved_model.load("{path}").signatures["serving_default"]\n'
        "probabilities = next(iter(serve(pixels=tf.constant(pixels, tf.float32)).values()))"
        "  # [n, {h}, {w}, {c}], 0-255",
    ),
    "litert": Format(
        "litert",
        "model.tflite",
        'interpreter = ai_edge_litert.interpreter.Interpreter(model_path="{path}")\n'
        "runner = interpreter.get_signature_runner()\n"
        "probabilities = next(iter(runner(pixels=pixels.astype(np.float32)).values()))  # [n, {h}, {w}, {c}], 0-255",
    ),
    "onnx": Format(
        "onnx",
        "model.onnx",
        'session = onnxruntime.InferenceSession("{path}")\n'
        "probabilities = session.run(None, {{session.get_inputs()[0].name: pixels.astype(np.float32)}})[0]"
        "  # [n, {h}, {w}, {c}], 0-255",
    ),
}
LABELS = "labels.txt"
EXPORT_JSON = "export.json"
EXPORTS = "export"  # default parent folder, inside the run


class ExportInfo(Record):
    """export.json: what the exported model takes and gives, and where it came from."""

    format: ExportFormat
    model: PathText  # file (or folder) name of the model inside the export folder
    input_shape: list[int]  # one example, batch axis left out
    input_dtype: Literal["float32"] = "float32"
    scale: float  # the model divides its input by this itself
    outputs: Literal["probabilities", "model outputs"]
    class_names: list[Name]
    run: PathText
    spec_sha256: Sha256
    created: str
    snippet: str


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the model file or folder
    folder: Path
    format: ExportFormat
    labels: Path
    class_names: list[str]
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "labels": str(self.labels),
            "folder": str(self.folder),
            "class_names": self.class_names,
        }


def read_exports(run_dir: Path) -> list[ExportInfo]:
    """The exports made into the run's own export/ folder, by format name (for the report)."""
    from layerspec.run.checks import read_json
    from layerspec.run.folder import read_record

    folder = run_dir / EXPORTS
    if not folder.is_dir():
        return []
    found = sorted(path for path in folder.glob(f"*/{EXPORT_JSON}") if path.is_file())
    return [read_record(read_json(path), ExportInfo, path) for path in found]


def default_out(run_dir: Path, fmt: ExportFormat) -> Path:
    return run_dir / EXPORTS / fmt


def export_run(run_dir: Path, fmt: ExportFormat, out: Path | None = None, *, overwrite: bool = False) -> ExportResult:
    """Export the run's trained model as `fmt` into the folder `out` (default RUN/export/FORMAT)."""
    run = _trained_run(run_dir)
    target = out if out is not None else default_out(run_dir, fmt)
    _check_target(target, overwrite)
    from layerspec.data import data_spec, load_run_spec
    from layerspec.evaluate import _run_class_names, load_trained_model

    loaded = load_run_spec(run_dir)
    scale = data_spec(loaded).scale
    model = load_trained_model(run_dir)
    class_names = _run_class_names(run_dir, loaded) or [str(i) for i in range(int(model.outputs[0].shape[-1]))]
    shape = [int(d) for d in model.inputs[0].shape[1:]]
    spec = FORMATS[fmt]
    final_path = target / spec.artefact
    snippet = spec.snippet.format(path=final_path, h=shape[0], w=shape[1] if len(shape) > 1 else "", c=shape[-1])
    with staged(target) as staging:  # the run folder's own staging: hidden beside it, renamed into place
        _export_model(model, scale, staging.file(spec.artefact), spec.keras_name)
        staging.write_text(LABELS, "".join(f"{name}\n" for name in class_names))
        info = ExportInfo(
            format=fmt,
            model=spec.artefact,
            input_shape=shape,
            scale=scale,
            outputs="probabilities" if _ends_in_softmax(loaded) else "model outputs",
            class_names=class_names,
            run=str(run.path),
            spec_sha256=loaded.sha256,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            snippet=snippet,
        )
        staging.write(EXPORT_JSON, info)
        publish(staging, target)
    return ExportResult(final_path, target, fmt, target / LABELS, class_names, snippet)


def _trained_run(run_dir: Path) -> RunFolder:
    run = RunFolder(run_dir).require()
    stage = run.stage()
    if stage not in (Stage.TRAINED, Stage.EVALUATED):
        what = "is only built" if stage is Stage.BUILT else f"is {stage}" if stage else "holds no complete build"
        raise UsageError(f"{run_dir} {what}: export needs a trained run (`layerspec train {run_dir}`)")
    return run


def _check_target(target: Path, overwrite: bool) -> None:
    if target.is_symlink() and not target.exists():
        raise UsageError(f"--out {target} is a link to nothing: give a folder path")
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {target} is a file, not a folder: give a folder path for the export")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise UsageError(f"{target} already holds an export: pass --overwrite to replace it, or --out another folder")


def _ends_in_softmax(loaded: Any) -> bool:
    layers = [entry for entry in loaded.spec.layers if getattr(entry, "softmax_axes", None)]
    return bool(layers) and layers[-1].softmax_axes() is not None


def _export_model(model: Any, scale: float, path: Path, keras_format: str) -> None:
    """The model behind a Rescaling(1 / scale), written by Keras's own exporter."""
    from layerspec.compile import keras_module

    keras = keras_module()
    pixels = keras.Input(shape=model.inputs[0].shape[1:], dtype="float32", name="pixels")
    scaled = keras.layers.Rescaling(1.0 / scale, name="scale")(pixels)
    # training=False is part of the graph: Keras's augmentation layers (RandomFlip, ...) default to training
    # behaviour when called without it, and the exporters trace the model without it, so an exported model
    # would flip and rotate its inputs at random.
    wrapped = keras.Model(pixels, model(scaled, training=False), name=f"{model.name}_export")
    # Keras's ONNX exporter refuses a model that has never been called on data; one batch of zeros calls it
    # (in inference mode: in training mode BatchNormalization would move its statistics).
    wrapped(keras.ops.zeros((1, *model.inputs[0].shape[1:])), training=False)
    # Keras's exporters print progress and TensorFlow's converters log; neither is this command's output.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        wrapped.export(str(path), format=keras_format, verbose=False)
