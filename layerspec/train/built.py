"""The model training starts from: the one `build` compiled and verified, handed over in process or read back
from the run folder. The spec is checked once, by whoever made the model; training only reads what the check
found (the input shape and class count the data must fit, the output layers) and never checks or compiles the
spec again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerspec.check import Checked, check_loaded
from layerspec.data import load_run_spec, run_target, target_of
from layerspec.errors import DataError, UsageError
from layerspec.layers.base import split_ref
from layerspec.run import RunFolder, Summary, folder
from layerspec.spec import LoadedSpec
from layerspec.splits import Target


@dataclass
class Built:
    """A checked spec, what its check found, and its Keras model (made on first use, after the runtime is set up:
    thread pools and a multi-worker strategy must come before TensorFlow runs anything)."""

    loaded: LoadedSpec
    target: Target  # what the data must fit: one example's shape, the class count
    outputs: frozenset[str]  # the output layers' names
    make: Callable[[], Any] = field(repr=False)
    run_dir: Path | None = None  # the run folder it was read from
    _model: Any = field(default=None, repr=False)

    def model(self) -> Any:
        if self._model is None:
            self._model = self.make()
        return self._model

    @classmethod
    def in_process(cls, checked: Checked, model: Any) -> Built:
        """The model `build` just compiled and verified."""
        outputs = output_layers(checked.graph.outputs)
        return cls(checked.loaded, checked_target(checked), outputs, lambda: model, _model=model)

    @classmethod
    def from_spec(cls, loaded: LoadedSpec) -> Built:
        """A spec that was not built: checked now, compiled and verified when training asks for its model."""
        from layerspec.build import compile_verified

        checked = check_loaded(loaded)
        return cls(
            loaded, checked_target(checked), output_layers(checked.graph.outputs), lambda: compile_verified(checked)
        )

    @classmethod
    def from_run(cls, run_dir: Path, loaded: LoadedSpec | None = None) -> Built:
        """A built run folder: its spec (or `loaded`, the spec file it is resumed from), summary.json and
        model.keras, which is loaded (in Keras's safe mode) when training asks for it."""
        run = RunFolder(run_dir).require()
        loaded = loaded if loaded is not None else _run_spec(run)
        summary, target = run.summary(), run_target(run_dir)
        model_path = run.file(folder.MODEL)
        if summary is None or target is None or not model_path.is_file() or run.build() is None:
            raise UsageError(
                f"{run_dir} is not a complete build (no build.json, summary.json or model.keras): "
                f"build it again with `layerspec build {run.file(folder.SPEC)} --out {run_dir}`"
            )
        outputs = output_layers(port.name for port in summary.outputs)
        return cls(loaded, target, outputs, lambda: _load(run, summary), run_dir=run.path)


def output_layers(refs: Iterable[str]) -> frozenset[str]:
    """The names of the layers whose outputs (`NAME` or `NAME[i]`) are the model's."""
    return frozenset(split_ref(ref)[0] for ref in refs)


def checked_target(checked: Checked) -> Target:
    summary = checked.summary
    inputs = [(name, summary.record(name).output_shape) for name in summary.inputs]
    return target_of(inputs[0][1], summary.output_shape_of(summary.outputs[0]), inputs)


def _run_spec(run: RunFolder) -> LoadedSpec:
    """The run's spec.yaml, which must be the spec its build.json says the model was built from."""
    loaded = load_run_spec(run.path)
    build = run.build()
    if build is not None and build.spec_sha256 is not None and build.spec_sha256 != loaded.sha256:
        raise DataError(
            str(run.file(folder.SPEC)),
            "is not the spec build.json says the model was built from (it was edited since): build the spec "
            f"again with `layerspec build {run.file(folder.SPEC)} --out {run.path} --overwrite`",
        )
    return loaded


def _load(run: RunFolder, summary: Summary) -> Any:
    """model.keras, held to summary.json: a model put there by hand is refused rather than trained."""
    from layerspec.evaluate import load_trained_model

    model = load_trained_model(run.path)
    path = run.file(folder.MODEL)
    layers = {layer.name: layer for layer in model.layers}
    for record in summary.layers:
        layer = layers.get(record.name)
        shape = None if layer is None else [None if d is None else int(d) for d in layer.output.shape]
        if shape != record.output_shape:
            found = "no such layer" if layer is None else f"output shape {shape}"
            raise DataError(
                str(path),
                f"does not match summary.json: layer '{record.name}' has {found}, not {record.output_shape}: "
                "build the run again",
            )
    if int(model.count_params()) != sum(record.params for record in summary.layers):
        raise DataError(str(path), "does not match summary.json (another parameter count): build the run again")
    return model
