"""The data stage: read and check the dataset a spec's `data:` section names (no TensorFlow here).

Everything is checked before a byte of pixel data is read: files exist, HDF5 datasets are plain datasets stored in
the file itself (no external, soft or virtual links, which could make h5py read other files), and shapes, dtypes and
sizes come from metadata, so a file declaring an absurd shape is refused without allocating it; the float32 arrays
of all splits together must fit MAX_DATASET_BYTES (layerspec.images), for image folders too. After reading: images
fit the model's input, labels lie in the class range, and there is no NaN or infinity. Folder datasets are read
by layerspec.folders (labels by class name) and layerspec.images (which image files, and how pixels convert),
HDF5 files by layerspec.hdf5.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from layerspec.errors import DataError, SpecError

# Re-exported: layerspec.arrays reads HDF5 through them too.
from layerspec.hdf5 import H5_ERRORS as H5_ERRORS
from layerspec.hdf5 import MAX_CLASSES as MAX_CLASSES
from layerspec.hdf5 import h5_class_names, read_h5_splits
from layerspec.hdf5 import plain_dataset as plain_dataset
from layerspec.spec import LoadedSpec
from layerspec.spec.data import DataSpec
from layerspec.splits import Dataset as Dataset
from layerspec.splits import Split as Split
from layerspec.splits import Target as Target
from layerspec.splits import check_class_count

DEFAULT_DATA_DIR = Path("data/signs")


def data_spec(loaded: LoadedSpec) -> DataSpec:
    """The spec's data section, or the defaults (the SIGNS files) when it has none."""
    return loaded.spec.data if loaded.spec.data is not None else DataSpec()


# What a spec without a data section is told to add: the two layouts, on one line.
MINIMAL_DATA = (
    "`data: {format: folder, dir: images, train: train, test: test}` for folders of images (one sub-folder per "
    "class), or `data: {dir: arrays, train: train.h5, test: test.h5}` for HDF5 files; paths are relative to the "
    "spec's folder"
)


def data_root(loaded: LoadedSpec, data_dir: Path | None = None) -> Path:
    """The folder the data section's paths are relative to, as it is best shown (see `shown_path`).

    A spec without a data section names no dataset: rather than guess one, say what to add (`--data DIR` alone
    still means the default file names in DIR).
    """
    if data_dir is not None:
        return shown_path(data_dir)
    if loaded.spec.data is None:
        raise SpecError.single(
            str(shown_path(loaded.path)),
            f"the spec has no `data:` section, so there is nothing to train on: add {MINIMAL_DATA}",
        )
    spec = data_spec(loaded)
    if spec.dir is None:
        return DEFAULT_DATA_DIR
    return shown_path(loaded.path.parent / spec.dir)


def shown_path(path: Path) -> Path:
    """`path` without `..` detours: relative to the working folder when inside it, else absolute if it was.

    The path itself is not resolved (a symbolic link such as data/signs stays as written)."""
    absolute = Path(os.path.abspath(path))
    here = Path.cwd()
    if absolute.is_relative_to(here):
        return absolute.relative_to(here) if absolute != here else Path(".")
    return absolute if path.is_absolute() else Path(os.path.normpath(path))


def target_of(
    input_shape: Sequence[int | None],
    output_shape: Sequence[int | None],
    inputs: Sequence[tuple[str, Sequence[int | None]]] = (),
) -> Target:
    """What reading the data needs from a checked model: one example's shape (the first input, without the batch
    axis), the class count (the first output's size, when it is a vector) and every input's name and shape."""
    classes = output_shape[0] if len(output_shape) == 1 else None
    return Target(tuple(input_shape), classes, tuple((name, tuple(shape)) for name, shape in inputs))


def model_target(loaded: LoadedSpec) -> Target:
    """Input shape and class count from the static inference, for a caller that holds no checked model."""
    from layerspec.check import check_loaded

    summary = check_loaded(loaded).summary
    inputs = [(name, summary.record(name).output_shape) for name in summary.inputs]
    return target_of(inputs[0][1], summary.output_shape_of(summary.outputs[0]), inputs)


def load_dataset(loaded: LoadedSpec, data_dir: Path | None = None, *, target: Target | None = None) -> Dataset:
    """Read and check the train, validation and test splits the spec's data section names.

    `target` is the checked model's input shape and class count (`target_of`); without it the spec is checked
    again to find them. The decoded splits together may take MAX_DATASET_BYTES (float32), claimed from metadata
    before reading.
    """
    spec = data_spec(loaded)
    root = data_root(loaded, data_dir)
    target = target if target is not None else model_target(loaded)
    if spec.format == "folder":
        from layerspec.folders import read_folder_splits

        splits, class_names = read_folder_splits(
            loaded, spec, root, _split_paths(spec), target, image_size(spec, target)
        )
    elif spec.format == "arrays":
        from layerspec.arrays import read_array_splits

        splits = read_array_splits(spec, root, _split_paths(spec), target)
        class_names = [] if spec.labels == "values" else _class_names(spec, root, target, list(splits.values()))
    else:
        splits = read_h5_splits(spec, root, _split_paths(spec), target)
        class_names = _class_names(spec, root, target, list(splits.values()))
    if spec.labels != "values":
        check_class_count(class_names, target, root / spec.train)
        for role, path in _split_paths(spec):
            _check_labels(splits[role], len(class_names), root / path)
    train, val, test = splits["train"], splits.get("validation"), splits.get("test")
    if spec.validation_split > 0:
        train, val = split_validation(train, spec.validation_split, spec.shuffle_seed, spec.labels != "values")
    return Dataset(train, val, test, class_names)


def _split_paths(spec: DataSpec) -> list[tuple[str, str]]:
    """(role, path) of each split the data section names, the training split first."""
    named = (("train", spec.train), ("test", spec.test), ("validation", spec.validation))
    return [(role, path) for role, path in named if path is not None]


def split_validation(train: Split, fraction: float, seed: int, by_class: bool = True) -> tuple[Split, Split]:
    """Hold out `fraction` of each class (at least one example of each class that has two or more); of all the
    examples at once when the targets are values, not classes."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    groups = np.unique(train.y) if by_class else [None]
    for label in groups:
        members = np.flatnonzero(train.y == label) if label is not None else np.arange(len(train))
        rng.shuffle(members)
        count = round(fraction * len(members))
        held.append(members[: min(max(count, 1), len(members) - 1)])
    val_index = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    keep = np.ones(len(train), bool)
    keep[val_index] = False
    return train.subset(np.flatnonzero(keep)), train.subset(val_index)


# ---------------------------------------------------------------------------------------------------- image size


def image_size(spec: DataSpec, target: Target) -> tuple[int, int]:
    """(height, width) image files are resized to (folder format and predict)."""
    if len(target.input_shape) != 3:
        raise SpecError.single(
            "data", f"images are read as (height, width, channels); the model's input shape is {target.input_shape}"
        )
    if spec.image_size is not None:
        return spec.image_size[0], spec.image_size[1]
    height, width = target.input_shape[0], target.input_shape[1]
    if height is None or width is None:
        raise SpecError.single("data", "the input shape has an unknown size: set data.image_size")
    return height, width


# ---------------------------------------------------------------------------------------------------- labels


def _class_names(spec: DataSpec, root: Path, target: Target, splits: list[Split]) -> list[str]:
    """HDF5 class names: data.class_names, else the file's class list, else the label numbers."""
    if spec.class_names is not None:
        return list(spec.class_names)
    count = target.num_classes or max(int(s.y.max(initial=0)) for s in splits) + 1
    from_file = h5_class_names(spec, root / spec.train) if spec.format == "h5" else None
    return from_file or [str(i) for i in range(count)]


def _check_labels(split: Split, num_classes: int, path: Path) -> None:
    bad = np.flatnonzero((split.y < 0) | (split.y >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            str(path),
            f"label {int(split.y[i])} of example {i} is outside the class range 0..{num_classes - 1} "
            f"({bad.size} labels out of range)",
        )


def batches(split: Split, batch_size: int) -> Iterator[Split]:
    for start in range(0, len(split), batch_size):
        yield split.subset(np.arange(start, min(start + batch_size, len(split))))


# ---------------------------------------------------------------------------------------------------- runs


def load_run_spec(run_dir: Path) -> LoadedSpec:
    """The spec a run folder was built from, placed where it was written (so relative data paths still hold).

    A run keeps a copy of its spec (spec.yaml); the data section's paths are relative to the original spec's
    folder, which build.json records as spec_path.
    """
    from layerspec.run import RunFolder, folder
    from layerspec.spec import parse_spec
    from layerspec.spec.yaml_source import read_text

    run = RunFolder(run_dir).require()
    copy = run.file(folder.SPEC)
    build = run.build()
    recorded = build.spec_path if build is not None else None
    origin = Path(recorded) if recorded and Path(recorded).is_file() else copy
    return parse_spec(read_text(copy), origin, build.overrides if build is not None else ())


def run_target(run_dir: Path) -> Target | None:
    """The built model's input shape and class count, as its summary.json records them (None without one)."""
    from layerspec.run import RunFolder

    summary = RunFolder(run_dir).summary()
    if summary is None or not summary.inputs or not summary.outputs:
        return None
    inputs = [(port.name, port.shape[1:]) for port in summary.inputs]
    return target_of(summary.inputs[0].shape[1:], summary.outputs[0].shape[1:], inputs)


def run_data_dir(run_dir: Path, loaded: LoadedSpec, data_dir: Path | None) -> Path:
    """`--data DIR` if given, else the folder training used (train.json), else the spec's."""
    from layerspec.run import RunFolder

    if data_dir is not None:
        return shown_path(data_dir)
    train = RunFolder(run_dir).train()
    if train is not None and train.data_dir:
        return shown_path(Path(train.data_dir))  # recorded absolute; shown as the working folder sees it
    return data_root(loaded)
