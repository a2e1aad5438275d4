"""The `arrays` data format: one .npz or HDF5 file per split holding input arrays and a target array.

A model with one input reads the array `arrays.x`; a model with several reads one array per input, named as the
input. As for the image HDF5 files, everything is checked from metadata before an array is read: for .npz the
header of each member (numpy.lib.format reads it from the zip member without the data; pickled object arrays are
refused, and np.load runs with allow_pickle=False), for HDF5 the dataset's link, storage, shape and dtype. Shapes
are held against the model's inputs, the float32 size of every split against the memory budget, and after reading
values are held finite and class labels in range.

Inputs keep their kind: integer arrays stay integers (int32: token ids an Embedding looks up stay exact), others
become float32, divided by data.scale only when the spec writes it (an array is not pixels unless said so).
Targets are integer class ids for data.labels one_hot or sparse, float32 values of any shape for `values`.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from layerspec.errors import DataError
from layerspec.images import MemoryBudget
from layerspec.spec.data import DataSpec
from layerspec.splits import Inputs, Split, Target, shape_fits

T = TypeVar("T")
# What reading a damaged zip raises besides OSError: found by tests/fuzz/test_arrays_robustness.py (an unknown
# compression method, an "encrypted" flag, a broken deflate stream, a short member).
NPZ_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
)

# Integer inputs above this lose their exactness as int32.
_INT32 = np.iinfo(np.int32)


@dataclass(frozen=True)
class ArrayInfo:
    """An array's metadata: what is known of it before any of its values is read."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


def read_array_splits(spec: DataSpec, root: Path, paths: list[tuple[str, str]], target: Target) -> dict[str, Split]:
    """Every split's metadata checked, and its float32 size claimed together, before any split is read."""
    budget = MemoryBudget()
    for _, name in paths:
        _checked_metadata(spec, root / name, target, budget)
    return {role: _read_split(spec, root / name, target) for role, name in paths}


@dataclass(frozen=True)
class _Port:
    """One model input and the array that feeds it: `x` for a single input, the input's name for several."""

    name: str | None
    key: str
    shape: tuple[int | None, ...]


def _ports(spec: DataSpec, target: Target) -> list[_Port]:
    if len(target.inputs) > 1:
        return [_Port(name, name, shape) for name, shape in target.inputs]
    return [_Port(None, spec.arrays.x, target.input_shape)]


def _checked_metadata(spec: DataSpec, path: Path, target: Target, budget: MemoryBudget) -> None:
    ports = _ports(spec, target)
    infos = _infos(path, [p.key for p in ports] + [spec.arrays.y])
    count = infos[0].shape[0] if infos[0].shape else 0
    for port, info in zip(ports, infos, strict=False):
        _check_x(info, path, port, count)
        budget.claim(info.shape, path, f"array '{info.key}' declares shape", "use a smaller dataset")
    _check_y(infos[-1], count, path, spec, target)
    budget.claim(infos[-1].shape, path, f"array '{infos[-1].key}' declares shape", "use a smaller dataset")


def _infos(path: Path, keys: list[str]) -> list[ArrayInfo]:
    if path.suffix.lower() == ".npz":
        return [_npz_info(path, key) for key in keys]
    return _with_h5(path, lambda handle: [_h5_info(handle, key, path) for key in keys])


def _read_split(spec: DataSpec, path: Path, target: Target) -> Split:
    ports = _ports(spec, target)
    keys = [p.key for p in ports] + [spec.arrays.y]
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = [np.asarray(archive[key]) for key in keys]
        except NPZ_ERRORS as exc:
            raise DataError(str(path), f"cannot read the .npz file: {exc}") from None
    else:
        arrays = _with_h5(path, lambda handle: [np.asarray(_h5_node(handle, key, path)[()]) for key in keys])
    inputs = [_inputs(values, spec, path, port.key) for port, values in zip(ports, arrays, strict=False)]
    x: Inputs = inputs[0] if ports[0].name is None else {str(p.name): v for p, v in zip(ports, inputs, strict=True)}
    return Split(x, _targets(arrays[-1], spec, path, spec.arrays.y), None)


# ---------------------------------------------------------------------------------------------------- metadata


def _npz_info(path: Path, key: str) -> ArrayInfo:
    """The header of member `key`.npy, read without its data (and without unpickling anything)."""
    where = f"array '{key}'"
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.removesuffix(".npy") for n in archive.namelist()]
            if key not in names:
                raise DataError(str(path), f"{where} not found (it has: {', '.join(sorted(names)) or 'nothing'})")
            with archive.open(f"{key}.npy") as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    except DataError:
        raise
    except NPZ_ERRORS as exc:
        raise DataError(str(path), f"cannot read {where} of the .npz file: {exc}") from None
    if dtype.hasobject:
        raise DataError(str(path), f"{where} holds Python objects (a pickle); only numeric arrays are read")
    return ArrayInfo(key, tuple(int(d) for d in shape), dtype)


def _with_h5(path: Path, use: Callable[[Any], T]) -> T:
    import h5py

    from layerspec.data import H5_ERRORS

    try:
        with h5py.File(path, "r") as handle:
            return use(handle)
    except DataError:
        raise
    except H5_ERRORS as exc:
        raise DataError(str(path), f"cannot read the HDF5 file: {exc}") from None


def _h5_node(handle: Any, key: str, path: Path) -> Any:
    from layerspec.data import plain_dataset

    return plain_dataset(handle, key, path)


def _h5_info(handle: Any, key: str, path: Path) -> ArrayInfo:
    node = _h5_node(handle, key, path)
    return ArrayInfo(key, tuple(int(d) for d in node.shape), np.dtype(node.dtype))


def _check_x(x: ArrayInfo, path: Path, port: _Port, count: int) -> None:
    where = f"array '{x.key}'" + (f" (input '{port.name}')" if port.name is not None else "")
    if x.dtype.kind not in "biuf" or x.dtype.itemsize > 8:
        raise DataError(str(path), f"{where} has dtype {x.dtype}; inputs must be booleans, integers or floats")
    expected = port.shape
    if len(x.shape) != len(expected) + 1 or not shape_fits(x.shape[1:], expected):
        raise DataError(
            str(path),
            f"{where} holds examples of shape {x.shape[1:]} (N={x.shape[0] if x.shape else 0}); the model's "
            f"input is {expected}: change the spec's input shape or the data",
        )
    if x.shape[0] == 0:
        raise DataError(str(path), f"{where} holds no examples")
    if x.shape[0] != count:
        raise DataError(str(path), f"{where} holds {x.shape[0]} examples, the first input's array {count}")


def _check_y(y: ArrayInfo, count: int, path: Path, spec: DataSpec, target: Target) -> None:
    where = f"array '{y.key}'"
    if not y.shape or y.shape[0] != count:
        raise DataError(str(path), f"{where} has shape {y.shape}; expected {count} targets first, one per example")
    if spec.labels != "values":
        if y.dtype.kind not in "iu" or y.dtype.itemsize > 8 or any(d != 1 for d in y.shape[1:]):
            raise DataError(
                str(path),
                f"{where} has shape {y.shape}, dtype {y.dtype}; data.labels '{spec.labels}' reads integer class "
                f"ids of shape ({count},): store them so, or use data.labels: values",
            )
        return
    if y.dtype.kind not in "biuf" or y.dtype.itemsize > 8:
        raise DataError(str(path), f"{where} has dtype {y.dtype}; targets must be booleans, integers or floats")
    width = target.num_classes
    if width is not None and y.shape[1:] not in ((width,), () if width == 1 else (width,)):
        raise DataError(
            str(path),
            f"{where} holds targets of shape {y.shape[1:]}, but the model outputs {width} value(s) per example: "
            "make the last layer's units match the targets",
        )


# ---------------------------------------------------------------------------------------------------- values


def _inputs(x: np.ndarray, spec: DataSpec, path: Path, key: str) -> np.ndarray:
    if x.dtype.kind in "iu":
        if x.size and (int(x.min()) < _INT32.min or int(x.max()) > _INT32.max):
            raise DataError(str(path), f"array '{key}' holds integers outside int32's range")
        return x.astype(np.int32)
    values = _finite(x.astype(np.float32), path, key)
    if "scale" in spec.model_fields_set:
        values /= np.float32(spec.scale)
    return values


def _targets(y: np.ndarray, spec: DataSpec, path: Path, key: str) -> np.ndarray:
    if spec.labels != "values":
        return y.reshape(-1).astype(np.int64)
    return _finite(y.astype(np.float32), path, key)


def _finite(values: np.ndarray, path: Path, key: str) -> np.ndarray:
    if not np.isfinite(values).all():
        bad = int(np.argwhere(~np.isfinite(values))[0][0])
        raise DataError(str(path), f"array '{key}' holds NaN or infinity (first in example {bad})")
    return values
