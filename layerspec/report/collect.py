"""The collect stage of the report: read one run folder into a `Run` (no formatting here).

Everything that can be missing is optional: a run that is only built has no history, metrics or train.json;
the dataset may be absent on the machine that makes the report. Missing pieces become notes in the report,
never errors. Files that exist but are broken are errors (`DataError`, `SpecError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from layerspec.errors import DataError, LayerspecError, UsageError
from layerspec.export import ExportInfo, read_exports
from layerspec.files import read_text_limited
from layerspec.report.images import display_range, png_uri, to_uint8
from layerspec.run import BuildInfo, History, Metrics, Record, RunFolder, Summary, TrainInfo, folder
from layerspec.spec import LoadedSpec, load_spec

if TYPE_CHECKING:
    from layerspec.check import Checked

SAMPLES_PER_CLASS = 4
MAX_SAMPLES = 32
MAX_MISCLASSIFIED = 48
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Picture:
    """One image of the data, as a `data:` URI (None when it could not be found) with its caption parts."""

    uri: str | None
    label: str


@dataclass(frozen=True)
class DataView:
    """What the report shows of the dataset: per-class counts per split, samples, misclassified images."""

    class_names: list[str]
    counts: dict[str, list[int]]
    samples: list[Picture]
    test_images: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """Everything the report knows about one run folder."""

    path: Path
    loaded: LoadedSpec
    summary: Summary
    build: BuildInfo | None
    train: TrainInfo | None
    history: History | None
    metrics: Metrics | None
    diagram_svg: str | None
    data: DataView | None
    data_note: str | None
    # The spec checked again: each layer's arguments, receptive field and memory (None if it no longer checks).
    checked: Checked | None = None
    exports: list[ExportInfo] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def spec_sha256(self) -> str:
        return self.loaded.sha256


def collect_run(path: Path) -> Run:
    """Read the run folder at `path`; raises UsageError if it is not one, DataError if a file is broken."""
    if not path.is_dir():
        raise UsageError(f"{path} is not a run folder: no such directory (build one with `layerspec build SPEC`)")
    run = RunFolder(path)
    if not run.is_run():
        raise UsageError(f"{path} is not a run folder: it has no spec.yaml (build one with `layerspec build SPEC`)")
    build, train, history, metrics = run.build(), run.train(), run.history(), run.metrics()
    loaded = load_spec(run.file(folder.SPEC), build.overrides if build is not None else ())
    check_same_spec(run, build, {folder.TRAIN: train, folder.HISTORY: history, folder.METRICS: metrics})
    data, note = load_data_view(loaded, data_location(loaded, build, train), metrics)
    return Run(
        path=path,
        loaded=loaded,
        summary=run_summary(path, loaded),
        build=build,
        train=train,
        history=history,
        metrics=metrics,
        diagram_svg=read_diagram(run.file(folder.SVG)),
        data=data,
        data_note=note,
        checked=checked_again(loaded),
        exports=read_exports(path),
    )


def checked_again(loaded: LoadedSpec) -> Checked | None:
    """The run's spec through `check` (no TensorFlow, a few milliseconds); None when it no longer checks (a
    layer type since renamed), so the report still shows what the run folder holds."""
    from layerspec.check import check_loaded

    try:
        return check_loaded(loaded, expectations=False)
    except LayerspecError:
        return None


def check_same_spec(run: RunFolder, build: BuildInfo | None, results: dict[str, Record | None]) -> None:
    """Refuse (DataError, exit 3) training results that name another spec than the one the model was built from.

    A report would otherwise show another model's curves and accuracy as this one's. Files written before the
    records carried the spec's hash cannot be checked and are shown as they are.
    """
    built = build.spec_sha256 if build is not None else None
    for name, record in results.items():
        trained = getattr(record, "spec_sha256", None)
        if built and trained and trained != built:
            raise DataError(
                str(run.file(name)),
                f"spec_sha256: these results come from spec {trained[:12]}..., but build.json says the model was "
                f"built from spec {built[:12]}...: they are not this model's; train the run again "
                f"(`layerspec train {run.path}`)",
            )


def run_summary(path: Path, loaded: LoadedSpec) -> Summary:
    """summary.json, or the same figures inferred again from spec.yaml when the file is missing."""
    summary = RunFolder(path).summary()
    if summary is None:
        from layerspec.check import check_loaded

        return Summary.model_validate(check_loaded(loaded).summary.to_json())
    return summary


def read_diagram(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return read_text_limited(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(str(path), f"cannot read the diagram: {exc}") from None


def data_location(loaded: LoadedSpec, build: BuildInfo | None, train: TrainInfo | None) -> Path | None:
    """The data folder: the one training used, else the spec's `data.dir` read from where the original spec was.

    The run folder holds a copy of the spec, so a `dir` relative to the spec file would point from the run
    folder, not from the spec's own folder.
    """
    used = train.data_location() if train is not None else None
    if used:
        return Path(used)
    relative = getattr(loaded.spec.data, "dir", None)
    if build is not None and build.spec_path and isinstance(relative, str):
        beside_spec = Path(build.spec_path).parent / relative
        return beside_spec if beside_spec.is_dir() else None
    return None


def load_data_view(
    loaded: LoadedSpec, data_dir: Path | None, metrics: Metrics | None
) -> tuple[DataView | None, str | None]:
    """The dataset as the report shows it, or None and a note saying why it is not shown."""
    try:
        from layerspec.data import load_dataset
    except ImportError:
        return None, "this layerspec cannot read datasets (no layerspec.data module)"
    try:
        dataset = load_dataset(loaded, data_dir)
    except (LayerspecError, OSError) as exc:
        return None, f"the dataset could not be read: {exc}"
    return _data_view(dataset, metrics), None


def _data_view(dataset: Any, metrics: Metrics | None) -> DataView:
    class_names = [str(n) for n in dataset.class_names]
    counts: dict[str, list[int]] = {}
    for split in SPLITS:
        part = getattr(dataset, split, None)
        if part is not None and class_names:  # regression targets have no classes to count
            counts[split] = np.bincount(np.asarray(part.y, dtype=np.int64), minlength=len(class_names)).tolist()
    # Only images (N, height, width, channels) are drawn; sequences and tables are not pictures.
    x = dataset.train.x
    pictures = isinstance(x, np.ndarray) and x.ndim == 4 and bool(class_names)
    return DataView(
        class_names=class_names,
        counts=counts,
        samples=_samples(dataset.train, class_names) if pictures else [],
        test_images=_test_images(dataset.test, metrics) if pictures else {},
    )


def _samples(split: Any, class_names: list[str]) -> list[Picture]:
    """A few training images of every class, in class order (the seed notebook's example figure, larger)."""
    labels = np.asarray(split.y, dtype=np.int64)
    per_class = max(1, min(SAMPLES_PER_CLASS, MAX_SAMPLES // max(1, len(class_names))))
    chosen = [i for c in range(len(class_names)) for i in np.flatnonzero(labels == c)[:per_class].tolist()]
    value_range = display_range(split.x)
    return [
        Picture(png_uri(to_uint8(split.x[i], value_range)), class_label(int(labels[i]), class_names))
        for i in chosen[:MAX_SAMPLES]
    ]


def _test_images(split: Any, metrics: Metrics | None) -> dict[int, str]:
    if split is None or metrics is None:
        return {}
    value_range = display_range(split.x)
    wanted = [m.index for m in metrics.misclassified[:MAX_MISCLASSIFIED] if m.index < len(split.x)]
    return {i: png_uri(to_uint8(split.x[i], value_range)) for i in wanted}


def misclassified_picture(run: Run, index: int) -> str | None:
    """Test image number `index`, read from the dataset the run names; None when the dataset is not there.

    Never from `misclassified[].file`: metrics.json is as editable as any file, and a path in it may name any
    file on the machine, which the report would then carry inside itself.
    """
    if run.data is not None:
        return run.data.test_images.get(index)
    return None


def class_label(value: str | int, class_names: list[str]) -> str:
    """A class as the data or metrics.json give it: its name, or its index (shown as the name when known)."""
    if isinstance(value, int) and 0 <= value < len(class_names):
        return class_names[value]
    return str(value)
