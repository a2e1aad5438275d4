"""The data stage: read and check the dataset a spec's `data:` section names (no TensorFlow here).

Everything is checked before a byte of pixel data is read: files exist, HDF5 datasets are plain datasets stored in
the file itself (no external, soft or virtual links, which could make h5py read other files), and shapes, dtypes and
sizes come from metadata, so a file declaring an absurd shape is refused without allocating it. After reading:
images fit the model's input, labels lie in the class range, and there is no NaN or infinity.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerspec.errors import DataError, SpecError, UsageError
from layerspec.files import read_record
from layerspec.spec import LoadedSpec
from layerspec.spec.data import DataSpec

DEFAULT_DATA_DIR = Path("data/signs")
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what image_dataset_from_directory reads
MAX_ARRAY_BYTES = 8 * 2**30  # a declared dataset bigger than this is refused before reading
MAX_IMAGE_PIXELS = 50_000_000  # a decoded image bigger than this is refused (decompression bombs)
MAX_CLASSES = 100_000


@dataclass(frozen=True)
class Split:
    """One split: images (N, H, W, C) float32 scaled as the spec says, integer labels (N,), source files if any."""

    x: np.ndarray
    y: np.ndarray
    files: list[str] | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: np.ndarray) -> Split:
        files = [self.files[i] for i in index] if self.files is not None else None
        return Split(self.x[index], self.y[index], files)


@dataclass(frozen=True)
class Dataset:
    train: Split
    val: Split | None
    test: Split | None
    class_names: list[str]

    def counts(self) -> dict[str, int]:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {name: len(split) if split is not None else 0 for name, split in splits.items()}


@dataclass(frozen=True)
class Target:
    """What the model expects: one example's shape and the number of classes."""

    input_shape: tuple[int | None, ...]
    num_classes: int | None


def data_spec(loaded: LoadedSpec) -> DataSpec:
    """The spec's data section, or the defaults (the SIGNS files) when it has none."""
    return loaded.spec.data if loaded.spec.data is not None else DataSpec()


def data_root(loaded: LoadedSpec, data_dir: Path | None = None) -> Path:
    """The folder the data section's paths are relative to."""
    if data_dir is not None:
        return data_dir
    spec = data_spec(loaded)
    if spec.dir is None:
        return DEFAULT_DATA_DIR
    return loaded.path.parent / spec.dir


def model_target(loaded: LoadedSpec) -> Target:
    """Input shape and class count from the static inference (the first input and output)."""
    from layerspec.check import check_loaded

    summary = check_loaded(loaded).summary
    input_shape = tuple(loaded.spec.input_specs()[0].shape)
    out_shape = summary.record(summary.outputs[0]).output_shape
    classes = out_shape[0] if len(out_shape) == 1 else None
    return Target(input_shape, classes)


def load_dataset(loaded: LoadedSpec, data_dir: Path | None = None) -> Dataset:
    """Read and check the train, validation and test splits the spec's data section names."""
    spec = data_spec(loaded)
    root = data_root(loaded, data_dir)
    target = model_target(loaded)
    reader = _read_h5 if spec.format == "h5" else _read_folder
    train = reader(spec, root / spec.train, "train", target)
    test = reader(spec, root / spec.test, "test", target) if spec.test is not None else None
    val = reader(spec, root / spec.validation, "validation", target) if spec.validation is not None else None
    class_names = _class_names(spec, root, target, [s for s in (train, val, test) if s is not None])
    for split, path in ((train, spec.train), (val, spec.validation), (test, spec.test)):
        if split is not None and path is not None:
            _check_labels(split, len(class_names), root / path)
    if spec.validation_split > 0:
        train, val = split_validation(train, spec.validation_split, spec.shuffle_seed)
    return Dataset(train, val, test, class_names)


def split_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out `fraction` of each class (at least one example of each class that has two or more)."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(train.y):
        members = np.flatnonzero(train.y == label)
        rng.shuffle(members)
        count = round(fraction * len(members))
        held.append(members[: min(max(count, 1), len(members) - 1)])
    val_index = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    keep = np.ones(len(train), bool)
    keep[val_index] = False
    return train.subset(np.flatnonzero(keep)), train.subset(val_index)


# ---------------------------------------------------------------------------------------------------- HDF5


def _read_h5(spec: DataSpec, path: Path, role: str, target: Target) -> Split:
    import h5py

    x_key, y_key = _h5_keys(spec, role)
    _require_file(path)
    try:
        with h5py.File(path, "r") as handle:
            x_data = _plain_dataset(handle, x_key, path)
            y_data = _plain_dataset(handle, y_key, path)
            count = _check_image_metadata(x_data, path, x_key, target)
            _check_label_metadata(y_data, path, y_key, count)
            x = x_data[()]
            y = np.asarray(y_data[()]).reshape(-1).astype(np.int64)
    except DataError:
        raise
    except H5_ERRORS as exc:
        raise DataError(str(path), f"cannot read the HDF5 file: {exc}") from None
    return Split(_scale(x, spec, path, x_key), y, None)


# What h5py raises on a damaged file: RuntimeError too, e.g. "unknown symbol table entry cache type" (tests/fuzz).
H5_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError)


def _h5_keys(spec: DataSpec, role: str) -> tuple[str, str]:
    keys = spec.keys
    if role == "train":
        return keys.train_x, keys.train_y
    if role == "test":
        return keys.test_x, keys.test_y
    return keys.validation_x or keys.train_x, keys.validation_y or keys.train_y


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataError(str(path), "no such file (run `make data`, or point `--data DIR` at the dataset)")
    if not path.is_file():
        raise DataError(str(path), "not a regular file")


def _plain_dataset(handle: Any, key: str, path: Path) -> Any:
    """`handle[key]` if it is a dataset stored in this file; external/soft links and virtual datasets are refused.

    The link is inspected with getlink=True, which reads only the link itself: following an external link would
    open another file, and a virtual or externally stored dataset would read other files' bytes.
    """
    import h5py

    where = f"dataset '{key}'"
    link = handle.get(key, getlink=True)
    if link is None:
        raise DataError(str(path), f"{where} not found (it has: {', '.join(sorted(handle.keys())) or 'nothing'})")
    if isinstance(link, h5py.ExternalLink):
        raise DataError(str(path), f"{where} is an external link to another file; only in-file datasets are read")
    if isinstance(link, h5py.SoftLink):
        raise DataError(str(path), f"{where} is a soft link; only plain in-file datasets are read")
    if not isinstance(link, h5py.HardLink):
        raise DataError(str(path), f"{where} is a {type(link).__name__}; only plain in-file datasets are read")
    node = handle[key]
    if not isinstance(node, h5py.Dataset):
        raise DataError(str(path), f"{where} is a {type(node).__name__}, not a dataset")
    if node.is_virtual:
        raise DataError(str(path), f"{where} is a virtual dataset (it reads other files); refused")
    if node.external:
        raise DataError(str(path), f"{where} keeps its data in external files; refused")
    return node


def _check_image_metadata(node: Any, path: Path, key: str, target: Target) -> int:
    where = f"dataset '{key}'"
    if node.dtype.kind not in "uif" or node.dtype.itemsize > 8:
        raise DataError(str(path), f"{where} has dtype {node.dtype}; images must be integers or floats")
    shape = tuple(int(d) for d in node.shape)
    _check_nbytes(shape, node.dtype.itemsize, path, where)
    expected = tuple(target.input_shape)
    if len(shape) != len(expected) + 1 or not _shape_fits(shape[1:], expected):
        raise DataError(
            str(path),
            f"{where} holds images of shape {shape[1:]} (N={shape[0] if shape else 0}); the model's input "
            f"is {expected}: change the spec's input shape or the data",
        )
    if shape[0] == 0:
        raise DataError(str(path), f"{where} holds no images")
    return shape[0]


def _check_nbytes(shape: tuple[int, ...], itemsize: int, path: Path, where: str) -> None:
    nbytes = itemsize
    for dim in shape:
        nbytes *= dim
    if nbytes > MAX_ARRAY_BYTES:
        raise DataError(
            str(path),
            f"{where} declares shape {shape} ({nbytes:,} bytes), more than the "
            f"{MAX_ARRAY_BYTES // 2**30} GiB layerspec loads; refused before reading",
        )


def _shape_fits(actual: tuple[int, ...], expected: tuple[int | None, ...]) -> bool:
    return all(e is None or a == e for a, e in zip(actual, expected, strict=True))


def _check_label_metadata(node: Any, path: Path, key: str, count: int) -> None:
    where = f"dataset '{key}'"
    if node.dtype.kind not in "iu" or node.dtype.itemsize > 8:
        raise DataError(str(path), f"{where} has dtype {node.dtype}; labels must be integers")
    shape = tuple(int(d) for d in node.shape)
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if size != count or len([d for d in shape if d != 1]) > 1:
        raise DataError(str(path), f"{where} has shape {shape}; expected ({count},), one label per image")


def _scale(x: np.ndarray, spec: DataSpec, path: Path, key: str) -> np.ndarray:
    scaled = x.astype(np.float32)
    if not np.isfinite(scaled).all():
        bad = int(np.argwhere(~np.isfinite(scaled))[0][0])
        raise DataError(str(path), f"dataset '{key}' holds NaN or infinity (first in image {bad})")
    scaled /= np.float32(spec.scale)
    return scaled


# ---------------------------------------------------------------------------------------------------- folders


def _read_folder(spec: DataSpec, path: Path, role: str, target: Target) -> Split:
    if not path.is_dir():
        raise DataError(str(path), f"no such folder for the {role} split (one sub-folder of images per class)")
    classes = sorted(p.name for p in path.iterdir() if p.is_dir())
    if not classes:
        raise DataError(str(path), "no class sub-folders (expected one folder of images per class)")
    files, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                files.append(file)
                labels.append(label)
    if not files:
        raise DataError(str(path), f"no image files ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    size = _image_size(spec, target)
    images = np.stack([read_image(file, spec, size) for file in files])
    if not _shape_fits(images.shape[1:], target.input_shape):
        raise DataError(str(path), f"images decode to {images.shape[1:]}; the model's input is {target.input_shape}")
    return Split(images, np.asarray(labels, np.int64), [str(f) for f in files])


def _image_size(spec: DataSpec, target: Target) -> tuple[int, int]:
    if spec.image_size is not None:
        return spec.image_size[0], spec.image_size[1]
    height, width = target.input_shape[0], target.input_shape[1]
    if height is None or width is None:
        raise SpecError.single("data", "the input shape has an unknown size: set data.image_size")
    return height, width


def read_image(path: Path, spec: DataSpec, size: tuple[int, int]) -> np.ndarray:
    """Decode one JPEG/PNG/... image, resized to `size` (height, width) and scaled; DataError if it is broken."""
    from PIL import Image, UnidentifiedImageError

    methods = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}
    method = methods.get(spec.interpolation, Image.Resampling.BICUBIC)
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DataError(str(path), f"image of {image.width}x{image.height} pixels is too large; refused")
            image.load()
            converted = image.convert("RGB" if spec.color_mode == "rgb" else "L")
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(str(path), "no such image file") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(str(path), f"cannot decode the image: {exc}") from None
    if converted.size != (size[1], size[0]):
        converted = converted.resize((size[1], size[0]), method)
    pixels = np.asarray(converted, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return pixels / np.float32(spec.scale)


def image_size_for(loaded: LoadedSpec) -> tuple[int, int]:
    return _image_size(data_spec(loaded), model_target(loaded))


# ---------------------------------------------------------------------------------------------------- labels


def _class_names(spec: DataSpec, root: Path, target: Target, splits: list[Split]) -> list[str]:
    if spec.class_names is not None:
        names = list(spec.class_names)
    elif spec.format == "folder":
        names = sorted(p.name for p in (root / spec.train).iterdir() if p.is_dir())
    else:
        count = target.num_classes or max(int(s.y.max(initial=0)) for s in splits) + 1
        names = _h5_class_names(spec, root / spec.train) or [str(i) for i in range(count)]
    if target.num_classes is not None and len(names) != target.num_classes:
        raise DataError(
            str(root / spec.train),
            f"the data has {len(names)} classes ({', '.join(names[:10])}) but the model outputs "
            f"{target.num_classes}: make the last layer's units match",
        )
    return names


def _h5_class_names(spec: DataSpec, path: Path) -> list[str] | None:
    import h5py

    key = spec.keys.classes
    if key is None:
        return None
    try:
        with h5py.File(path, "r") as handle:
            if handle.get(key, getlink=True) is None:
                return None
            node = _plain_dataset(handle, key, path)
            if len(node.shape) != 1 or not 0 < node.shape[0] <= MAX_CLASSES or node.dtype.kind not in "iuSOU":
                raise DataError(
                    str(path), f"dataset '{key}' has shape {node.shape}, dtype {node.dtype}: not a class list"
                )
            return [_label_text(v) for v in node[()]]
    except H5_ERRORS as exc:
        raise DataError(str(path), f"cannot read the HDF5 file: {exc}") from None


def _label_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


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
    import json

    from layerspec.spec import parse_spec
    from layerspec.spec.yaml_source import read_text

    copy = run_dir / "spec.yaml"
    if not copy.is_file():
        raise UsageError(f"{run_dir} is not a run folder (it has no spec.yaml): build one with `layerspec build`")
    origin = copy
    try:
        recorded = json.loads(read_record(run_dir / "build.json")).get("spec_path")
        if isinstance(recorded, str) and Path(recorded).is_file():
            origin = Path(recorded)
    except (OSError, ValueError, AttributeError):
        pass
    return parse_spec(read_text(copy), origin)


def run_data_dir(run_dir: Path, loaded: LoadedSpec, data_dir: Path | None) -> Path:
    """`--data DIR` if given, else the folder training used (train.json), else the spec's."""
    import json

    if data_dir is not None:
        return data_dir
    try:
        recorded = json.loads(read_record(run_dir / "train.json")).get("data_dir")
        if isinstance(recorded, str):
            return Path(recorded)
    except (OSError, ValueError, AttributeError):
        pass
    return data_root(loaded)
