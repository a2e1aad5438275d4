"""The `arrays` data format: .npz and HDF5 files of inputs and targets, checked from metadata (no TensorFlow)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from layerspec import images
from layerspec.data import load_dataset
from layerspec.errors import DataError, SpecError
from layerspec.spec import load_spec
from layerspec.synthetic import TextSet, regression_arrays, text_arrays, write_npz, write_regression, write_text

SPEC = """\
name: arrays
input:
  shape: {shape}
layers:
  - type: Flatten
  - type: Dense
    units: {units}
    activation: {activation}
data:
  format: arrays
  dir: .
  train: {train}
  test: {test}
{extra}"""


def spec(folder: Path, train: str = "text_train.npz", test: str = "text_test.npz", **fields: str) -> Path:
    values = {"shape": "[40]", "units": "3", "activation": "softmax", "extra": "", **fields}
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(train=train, test=test, **values), encoding="utf-8")
    return path


def test_the_text_set_loads_with_int_ids_and_class_labels(tmp_path: Path) -> None:
    write_text(tmp_path)
    dataset = load_dataset(load_spec(spec(tmp_path, extra="  validation_split: 0.2\n")))
    assert dataset.train.x.dtype == np.int32 and dataset.train.x.shape[1:] == (40,)
    assert dataset.class_names == ["0", "1", "2"] and dataset.test is not None and len(dataset.test) == 120
    assert dataset.val is not None and len(dataset.train) + len(dataset.val) == 600
    assert int(dataset.train.x.max()) < 200 and set(np.unique(dataset.train.y)) == {0, 1, 2}


def test_the_text_set_has_a_signal_and_padding() -> None:
    x, y = text_arrays(TextSet(count=300))
    keyword_class = (x[(x > 0) & (x < 16)] - 1) // 5
    assert keyword_class.size > 0 and (x == 0).any()
    # Each class's own keyword ids appear in its sequences only.
    for label in range(3):
        own = x[y == label]
        assert np.all(((own[(own > 0) & (own < 16)] - 1) // 5) == label)
    assert np.array_equal(text_arrays(TextSet(count=300))[0], x)  # same seed, same data


def test_regression_values_load_as_float_targets_split_at_random(tmp_path: Path) -> None:
    write_regression(tmp_path)
    path = spec(
        tmp_path,
        "regression_train.npz",
        "regression_test.npz",
        shape="[8]",
        units="1",
        activation="linear",
        extra="  labels: values\n  validation_split: 0.25\ntrain:\n  loss: mean_squared_error\n",
    )
    dataset = load_dataset(load_spec(path))
    assert dataset.class_names == [] and dataset.train.y.dtype == np.float32
    assert dataset.val is not None and len(dataset.val) == 100 and dataset.train.y.shape[1:] == (1,)


def test_hdf5_files_work_the_same(tmp_path: Path) -> None:
    x, y = text_arrays(TextSet(count=50))
    for name in ("train.h5", "test.h5"):
        with h5py.File(tmp_path / name, "w") as handle:
            handle.create_dataset("tokens", data=x)
            handle.create_dataset("label", data=y)
    extra = "  arrays:\n    x: tokens\n    y: label\n"
    dataset = load_dataset(load_spec(spec(tmp_path, "train.h5", "test.h5", extra=extra)))
    assert np.array_equal(dataset.train.x, x) and np.array_equal(dataset.train.y, y)


def refused(path: Path, *fragments: str) -> None:
    with pytest.raises(DataError) as caught:
        load_dataset(load_spec(path))
    message = str(caught.value)
    assert all(f in message for f in fragments), message


def write_pair(folder: Path, x: np.ndarray, y: np.ndarray) -> None:
    for name in ("text_train.npz", "text_test.npz"):
        write_npz(folder / name, x, y)


def test_a_pickled_object_array_is_refused_from_its_header(tmp_path: Path) -> None:
    x = np.empty(4, dtype=object)
    x[:] = [[1], [2], [3], [4]]
    with zipfile.ZipFile(tmp_path / "text_train.npz", "w") as archive, archive.open("x.npy", "w") as member:
        np.lib.format.write_array(member, x, allow_pickle=True)
    write_npz(tmp_path / "text_test.npz", *text_arrays(TextSet(count=10)))
    refused(spec(tmp_path), "text_train.npz", "array 'x' holds Python objects (a pickle)")


def test_wrong_shapes_lengths_and_keys_name_the_file_and_array(tmp_path: Path) -> None:
    x, y = text_arrays(TextSet(count=20))
    write_pair(tmp_path, x[:, :30], y)
    refused(spec(tmp_path), "array 'x' holds examples of shape (30,)", "the model's input is (40,)")
    write_pair(tmp_path, x, y[:10])
    refused(spec(tmp_path), "array 'y' has shape (10,); expected 20 targets")
    write_pair(tmp_path, x, y.astype(np.float32))
    refused(spec(tmp_path), "data.labels 'one_hot' reads integer class ids", "use data.labels: values")
    refused(spec(tmp_path, extra="  arrays:\n    x: tokens\n"), "array 'tokens' not found (it has: x, y)")


def test_labels_out_of_range_nan_and_the_memory_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = text_arrays(TextSet(count=20))
    write_pair(tmp_path, x, np.where(y == 2, 7, y))
    refused(spec(tmp_path), "label 7 of example", "0..2")
    floats = x.astype(np.float32)
    floats[3, 5] = np.nan
    write_pair(tmp_path, floats, y)
    refused(spec(tmp_path), "array 'x' holds NaN or infinity (first in example 3)")
    write_pair(tmp_path, x, y)
    monkeypatch.setattr(images, "MAX_DATASET_BYTES", 1000)
    refused(spec(tmp_path), "text_train.npz", "array 'x' declares shape (20, 40)", "refused before reading")


def test_value_targets_must_match_the_output_width(tmp_path: Path) -> None:
    x, y = regression_arrays(count=20)
    write_pair(tmp_path, x, np.repeat(y, 3, axis=1))
    path = spec(tmp_path, shape="[8]", units="1", activation="linear", extra="  labels: values\n")
    refused(path, "array 'y' holds targets of shape (3,), but the model outputs 1 value(s)")


def test_a_damaged_npz_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "text_train.npz").write_bytes(b"PK\x03\x04 not really a zip")
    write_npz(tmp_path / "text_test.npz", *text_arrays(TextSet(count=10)))
    refused(spec(tmp_path), "text_train.npz", "cannot read")


def test_an_unknown_array_field_is_a_spec_error_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(spec(tmp_path, extra="  arrays:\n    inputs: x\n"))
    assert caught.value.diagnostics[0].line == 15
