"""HDF5 datasets: each split's file read once its links, dtypes and shapes are checked from metadata alone.

Only plain datasets stored in the file itself are read (no external, soft or virtual links, which could make h5py
read other files), and a file declaring an absurd shape is refused before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from layerspec.errors import DataError
from layerspec.images import MemoryBudget
from layerspec.spec.data import DataSpec
from layerspec.splits import Split, Target, shape_fits

T = TypeVar("T")
MAX_CLASSES = 100_000


def read_h5_splits(spec: DataSpec, root: Path, paths: list[tuple[str, str]], target: Target) -> dict[str, Split]:
    """Each (role, path) split's HDF5 file: every split's metadata is checked, and its float32 size claimed,
    before any split's pixels are read."""
    budget = MemoryBudget()
    for role, path in paths:
        _open_h5(spec, root / path, role, target, budget, _no_arrays)
    splits = {}
    for role, path in paths:
        x, y = _open_h5(spec, root / path, role, target, MemoryBudget(), _h5_arrays)
        splits[role] = Split(_scale(x, spec, root / path, _h5_keys(spec, role)[0]), y, None)
    return splits


def _open_h5(
    spec: DataSpec, path: Path, role: str, target: Target, budget: MemoryBudget, use: Callable[[Any, Any], T]
) -> T:
    """`use(images, labels)` on the split's HDF5 datasets once their links and metadata are checked."""
    import h5py

    x_key, y_key = _h5_keys(spec, role)
    _require_file(path, role)
    try:
        with h5py.File(path, "r") as handle:
            x_data = plain_dataset(handle, x_key, path)
            y_data = plain_dataset(handle, y_key, path)
            count = _check_image_metadata(x_data, path, x_key, target, budget)
            _check_label_metadata(y_data, path, y_key, count)
            return use(x_data, y_data)
    except DataError:
        raise
    except H5_ERRORS as exc:
        raise DataError(str(path), f"cannot read the HDF5 file: {exc}") from None


def _no_arrays(x_data: Any, y_data: Any) -> None:
    return None


def _h5_arrays(x_data: Any, y_data: Any) -> tuple[np.ndarray, np.ndarray]:
    return x_data[()], np.asarray(y_data[()]).reshape(-1).astype(np.int64)


# What h5py raises on a damaged file: RuntimeError too, e.g. "unknown symbol table entry cache type" (tests/fuzz).
H5_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError)


def _h5_keys(spec: DataSpec, role: str) -> tuple[str, str]:
    keys = spec.keys
    if role == "train":
        return keys.train_x, keys.train_y
    if role == "test":
        return keys.test_x, keys.test_y
    return keys.validation_x or keys.train_x, keys.validation_y or keys.train_y


def _require_file(path: Path, role: str) -> None:
    if not path.exists():
        raise DataError(
            str(path),
            f"no such file for the {role} split (data.{role} is relative to data.dir, itself relative to the spec's "
            "folder): correct the path, or point `--data DIR` at the dataset's folder",
        )
    if path.is_dir():
        raise DataError(
            str(path),
            f"the {role} split is a folder, but data.format is 'h5', which reads HDF5 files: for a folder of class "
            f"sub-folders of images write `format: folder` in the data section, or name the .h5 file in data.{role}",
        )
    if not path.is_file():
        raise DataError(str(path), "not a regular file")


def plain_dataset(handle: Any, key: str, path: Path) -> Any:
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


def _check_image_metadata(node: Any, path: Path, key: str, target: Target, budget: MemoryBudget) -> int:
    where = f"dataset '{key}'"
    if node.dtype.kind not in "uif" or node.dtype.itemsize > 8:
        raise DataError(str(path), f"{where} has dtype {node.dtype}; images must be integers or floats")
    shape = tuple(int(d) for d in node.shape)
    # Claimed as the float32 array it becomes (4 bytes a value, whatever the stored dtype), every split together.
    budget.claim(shape, path, f"{where} declares shape", "use a smaller dataset")
    expected = tuple(target.input_shape)
    if len(shape) != len(expected) + 1 or not shape_fits(shape[1:], expected):
        raise DataError(
            str(path),
            f"{where} holds images of shape {shape[1:]} (N={shape[0] if shape else 0}); the model's input "
            f"is {expected}: change the spec's input shape or the data",
        )
    if shape[0] == 0:
        raise DataError(str(path), f"{where} holds no images")
    return shape[0]


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


def h5_class_names(spec: DataSpec, path: Path) -> list[str] | None:
    import h5py

    key = spec.keys.classes
    if key is None:
        return None
    try:
        with h5py.File(path, "r") as handle:
            if handle.get(key, getlink=True) is None:
                return None
            node = plain_dataset(handle, key, path)
            if len(node.shape) != 1 or not 0 < node.shape[0] <= MAX_CLASSES or node.dtype.kind not in "iuSOU":
                raise DataError(
                    str(path), f"dataset '{key}' has shape {node.shape}, dtype {node.dtype}: not a class list"
                )
            return [_label_text(v) for v in node[()]]
    except H5_ERRORS as exc:
        raise DataError(str(path), f"cannot read the HDF5 file: {exc}") from None


def _label_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
