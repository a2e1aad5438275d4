"""The data stage: dataset loading and every check on hostile or broken data (no TensorFlow needed)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from layerspec.check import check_file
from layerspec.cli import app
from layerspec.data import load_dataset, split_validation
from layerspec.errors import DataError, SpecError
from layerspec.images import read_image
from layerspec.spec import load_spec

N_CLASSES = 3
SPEC = """\
name: tiny
input:
  shape: [8, 8, 3]
layers:
  - type: Flatten
  - type: Dense
    units: 3
    activation: softmax
data:
{data}
"""
H5_DATA = """\
  dir: .
  train: train.h5
  test: test.h5
  validation_split: 0.25
"""


def write_spec(folder: Path, data: str = H5_DATA) -> Path:
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(data=data), encoding="utf-8")
    return path


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 8, 8, 3), dtype=np.uint8)


def write_h5(path: Path, prefix: str, x: np.ndarray, y: np.ndarray, classes: bool = True) -> None:
    with h5py.File(path, "w") as handle:
        handle.create_dataset(f"{prefix}_set_x", data=x)
        handle.create_dataset(f"{prefix}_set_y", data=y)
        if classes:
            handle.create_dataset("list_classes", data=np.arange(N_CLASSES))


@pytest.fixture
def good(tmp_path: Path) -> Path:
    write_h5(tmp_path / "train.h5", "train", images(24), np.arange(24) % N_CLASSES)
    write_h5(tmp_path / "test.h5", "test", images(6, 1), np.arange(6) % N_CLASSES)
    return write_spec(tmp_path)


def load(spec: Path) -> object:
    return load_dataset(load_spec(spec))


def data_error(spec: Path) -> str:
    with pytest.raises(DataError) as caught:
        load(spec)
    assert caught.value.exit_code == 3
    return str(caught.value)


def test_good_h5_is_loaded_scaled_and_split(good: Path) -> None:
    dataset = load_dataset(load_spec(good))
    assert dataset.class_names == ["0", "1", "2"]
    assert dataset.train.x.dtype == np.float32 and dataset.train.y.dtype == np.int64
    assert dataset.train.x.shape == (18, 8, 8, 3) and dataset.val is not None and len(dataset.val) == 6
    assert dataset.test is not None and len(dataset.test) == 6
    assert dataset.train.x.min() >= 0.0 and dataset.train.x.max() <= 1.0
    raw = images(6, 1).astype(np.float32) / 255
    np.testing.assert_array_equal(dataset.test.x, raw)
    # stratified: every class is held out in the same proportion
    assert sorted(np.bincount(dataset.val.y).tolist()) == [2, 2, 2]


def test_validation_split_is_stratified_and_seeded() -> None:
    from layerspec.data import Split

    split = Split(np.zeros((100, 1, 1, 1), np.float32), np.repeat(np.arange(4), 25).astype(np.int64))
    train_a, val_a = split_validation(split, 0.2, seed=7)
    _, val_b = split_validation(split, 0.2, seed=7)
    _, val_c = split_validation(split, 0.2, seed=8)
    assert len(train_a) == 80 and np.bincount(val_a.y).tolist() == [5, 5, 5, 5]
    np.testing.assert_array_equal(val_a.y, val_b.y)
    assert len(val_c) == 20


def test_missing_file(tmp_path: Path) -> None:
    message = data_error(write_spec(tmp_path))
    assert "train.h5" in message and "no such file" in message


def test_not_an_hdf5_file(good: Path) -> None:
    (good.parent / "train.h5").write_bytes(b"this is not HDF5" * 10)
    assert "cannot read the HDF5 file" in data_error(good)


def test_missing_dataset_names_what_the_file_has(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"]
    message = data_error(good)
    assert "dataset 'train_set_x' not found" in message and "train_set_y" in message


def test_external_link_is_refused_without_being_followed(good: Path, tmp_path: Path) -> None:
    write_h5(tmp_path / "other.h5", "train", images(24), np.zeros(24, np.int64))
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"]
        handle["train_set_x"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/train_set_x")
    message = data_error(good)
    assert "train.h5" in message and "'train_set_x' is an external link" in message


def test_soft_link_is_refused(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        handle.move("train_set_x", "hidden")
        handle["train_set_x"] = h5py.SoftLink("/hidden")
    assert "'train_set_x' is a soft link" in data_error(good)


def test_virtual_dataset_is_refused(good: Path, tmp_path: Path) -> None:
    write_h5(tmp_path / "source.h5", "train", images(24), np.zeros(24, np.int64))
    layout = h5py.VirtualLayout(shape=(24, 8, 8, 3), dtype=np.uint8)
    layout[:] = h5py.VirtualSource(str(tmp_path / "source.h5"), "train_set_x", shape=(24, 8, 8, 3))
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"]
        handle.create_virtual_dataset("train_set_x", layout)
    assert "'train_set_x' is a virtual dataset" in data_error(good)


def test_external_storage_is_refused(good: Path, tmp_path: Path) -> None:
    raw = tmp_path / "pixels.bin"
    raw.write_bytes(images(24).tobytes())
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"]
        handle.create_dataset("train_set_x", shape=(24, 8, 8, 3), dtype=np.uint8, external=[(str(raw), 0, 24 * 192)])
    assert "'train_set_x' keeps its data in external files" in data_error(good)


def test_absurd_declared_shape_is_refused_without_allocating(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"], handle["train_set_y"]
        # 10^11 images of 8x8x3: 19 TB declared, nothing written (chunked storage allocates lazily).
        handle.create_dataset("train_set_x", shape=(10**11, 8, 8, 3), dtype=np.uint8, chunks=(1, 8, 8, 3))
        handle.create_dataset("train_set_y", shape=(10**11,), dtype=np.int64, chunks=(1024,))
    tracemalloc.start()
    message = data_error(good)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "declares shape (100000000000, 8, 8, 3)" in message and "refused before reading" in message
    assert peak < 50 * 2**20


def test_wrong_image_dtype(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"]
        handle.create_dataset("train_set_x", data=np.array([b"not pixels"] * 24))
    assert "'train_set_x' has dtype" in data_error(good)


def test_float_labels_are_refused(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_y"]
        handle.create_dataset("train_set_y", data=np.zeros(24, np.float32))
    assert "'train_set_y' has dtype float32; labels must be integers" in data_error(good)


def test_image_shape_must_match_the_input(good: Path) -> None:
    write_h5(good.parent / "train.h5", "train", np.zeros((24, 16, 16, 3), np.uint8), np.zeros(24, np.int64))
    message = data_error(good)
    assert "images of shape (16, 16, 3)" in message and "(8, 8, 3)" in message


def test_label_count_must_match_the_images(good: Path) -> None:
    write_h5(good.parent / "train.h5", "train", images(24), np.zeros(23, np.int64))
    assert "one label per image" in data_error(good)


def test_labels_out_of_range(good: Path) -> None:
    labels = np.arange(24) % N_CLASSES
    labels[5] = 7
    write_h5(good.parent / "train.h5", "train", images(24), labels)
    message = data_error(good)
    assert "label 7 of example 5 is outside the class range 0..2" in message and "train.h5" in message


def test_negative_labels(good: Path) -> None:
    write_h5(good.parent / "test.h5", "test", images(6), -np.ones(6, np.int64))
    assert "test.h5" in data_error(good)


def test_nan_and_inf_are_refused(good: Path) -> None:
    x = images(24).astype(np.float32)
    x[3, 0, 0, 0] = np.nan
    write_h5(good.parent / "train.h5", "train", x, np.arange(24) % N_CLASSES)
    assert "NaN or infinity (first in image 3)" in data_error(good)
    x[3, 0, 0, 0] = np.inf
    write_h5(good.parent / "train.h5", "train", x, np.arange(24) % N_CLASSES)
    assert "NaN or infinity" in data_error(good)


def test_class_count_must_match_the_model(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["list_classes"]
        handle.create_dataset("list_classes", data=np.arange(5))
    assert "the data has 5 classes" in data_error(good)


def test_validation_split_and_file_are_exclusive(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, H5_DATA + "  validation: val.h5\n")
    with pytest.raises(SpecError) as caught:
        check_file(spec)  # a rule across the section's keys (layerspec.rules)
    assert "either `validation`" in str(caught.value)


def test_unknown_data_key_points_at_the_line(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, H5_DATA + "  shufle_seed: 3\n")
    with pytest.raises(SpecError) as caught:
        load_spec(spec)
    assert ":14:" in str(caught.value) and "shuffle_seed" in str(caught.value)


# ---------------------------------------------------------------------------------------------------- folders

FOLDER_DATA = """\
  format: folder
  dir: images
  train: train
  test: null
  validation_split: 0.5
"""


def write_image_folders(root: Path, per_class: int = 2, size: int = 8) -> None:
    for label in range(N_CLASSES):
        folder = root / "train" / f"class_{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size, size, 3), 40 * label + i, np.uint8)
            Image.fromarray(pixels).save(folder / f"img{i}.png")


def test_folder_format_reads_class_folders(tmp_path: Path) -> None:
    write_image_folders(tmp_path / "images", size=12)  # resized to the 8x8 input
    dataset = load_dataset(load_spec(write_spec(tmp_path, FOLDER_DATA)))
    assert dataset.class_names == ["class_0", "class_1", "class_2"]
    assert dataset.train.x.shape == (3, 8, 8, 3) and dataset.val is not None and len(dataset.val) == 3
    assert dataset.train.files is not None and all(f.endswith(".png") for f in dataset.train.files)
    assert dataset.test is None


def test_broken_image_names_the_file(tmp_path: Path) -> None:
    write_image_folders(tmp_path / "images")
    broken = tmp_path / "images" / "train" / "class_1" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    message = data_error(write_spec(tmp_path, FOLDER_DATA))
    assert "broken.jpg" in message and "cannot decode the image" in message


def test_read_image_refuses_a_huge_image(tmp_path: Path) -> None:
    from layerspec.spec.data import DataSpec

    path = tmp_path / "huge.png"
    Image.new("L", (8000, 8000)).save(path)
    with pytest.raises(DataError, match="too large"):
        read_image(path, DataSpec(), (8, 8))


# ---------------------------------------------------------------------------------------------------- CLI


def test_train_with_bad_data_exits_3_without_traceback(good: Path) -> None:
    with h5py.File(good.parent / "train.h5", "a") as handle:
        handle.move("train_set_x", "hidden")
        handle["train_set_x"] = h5py.SoftLink("/hidden")
    result = CliRunner().invoke(app, ["train", str(good), "--out", str(good.parent / "run")])
    assert result.exit_code == 3
    assert f"{good.parent / 'train.h5'}: error: dataset 'train_set_x' is a soft link" in result.output
    assert "Traceback" not in result.output
    assert not (good.parent / "run").exists()  # nothing built or written


# ---------------------------------------------------------------------------------------------------- labels by name

SPLIT_FOLDERS = """\
  format: folder
  dir: images
  train: train
  test: test
"""
SHADES = {"a": 10, "b": 20, "c": 30}  # every image of a class is filled with its shade, so pixels tell its class


def write_classes(root: Path, split: str, classes: str, per_class: int = 2) -> None:
    for name in classes:
        folder = root / "images" / split / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8, 3), SHADES.get(name, 99), np.uint8)).save(folder / f"{name}{i}.png")


def shades(split: object) -> list[int]:
    x = split.x  # type: ignore[attr-defined]
    return [round(float(v) * 255) for v in x[:, 0, 0, 0]]


def test_a_test_folder_lacking_a_class_keeps_every_label(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    write_classes(tmp_path, "test", "ac")  # no b: c must stay label 2, not slide down to 1
    dataset = load_dataset(load_spec(write_spec(tmp_path, SPLIT_FOLDERS)))
    assert dataset.class_names == ["a", "b", "c"] and dataset.test is not None
    assert dataset.test.y.tolist() == [0, 0, 2, 2]
    assert shades(dataset.test) == [10, 10, 30, 30]
    assert dataset.test.files is not None and dataset.test.files[2].endswith("c0.png")


def test_a_class_the_training_split_lacks_names_the_folder(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    write_classes(tmp_path, "test", "abd")
    message = data_error(write_spec(tmp_path, SPLIT_FOLDERS))
    assert f"{tmp_path / 'images' / 'test' / 'd'}: error: class folder 'd' of the test split" in message
    assert "not a class of the training split (a, b, c)" in message


def test_class_names_map_names_to_folders(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    write_classes(tmp_path, "test", "cb", per_class=1)
    dataset = load_dataset(load_spec(write_spec(tmp_path, SPLIT_FOLDERS + "  class_names: [c, a, b]\n")))
    assert dataset.class_names == ["c", "a", "b"]
    by_label = dict(zip(dataset.train.y.tolist(), shades(dataset.train), strict=True))
    assert by_label == {0: 30, 1: 10, 2: 20}  # label 0 is folder c, whatever the sorted order
    assert dataset.test is not None and dataset.test.y.tolist() == [2, 0] and shades(dataset.test) == [20, 30]


def test_an_unknown_class_name_points_at_its_line(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    spec = write_spec(tmp_path, SPLIT_FOLDERS + "  class_names:\n    - a\n    - b\n    - cc\n")
    with pytest.raises(SpecError) as caught:
        load_dataset(load_spec(spec))
    message = str(caught.value)
    assert message.startswith(f"{spec}:17:7: error: class 'cc' has no folder in the training split"), message
    assert "did you mean 'c'?" in message


def test_a_class_name_listed_twice_is_an_error(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    spec = write_spec(tmp_path, SPLIT_FOLDERS + "  class_names: [a, b, a]\n")
    with pytest.raises(SpecError) as caught:
        load_dataset(load_spec(spec))
    assert f"{spec}:14:" in str(caught.value) and "class 'a' is listed twice" in str(caught.value)


def test_a_training_folder_missing_from_class_names_is_an_error(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    message = data_error(write_spec(tmp_path, SPLIT_FOLDERS + "  class_names: [b, a]\n"))
    assert f"{tmp_path / 'images' / 'train' / 'c'}: error: class folder 'c' is not listed in data.class_names" in (
        message
    )


# ---------------------------------------------------------------------------------------------------- memory budget

HUGE_INPUT = """\
name: huge
input:
  shape: [8192, 8192, 3]
layers:
  - type: GlobalAveragePooling2D
  - type: Dense
    units: 3
    activation: softmax
data:
  format: folder
  dir: images
  train: train
  test: null
"""


def peak_while(action: object) -> tuple[str, int]:
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            action()  # type: ignore[operator]
        return str(caught.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tiny_images_resized_to_a_huge_input_are_refused_before_decoding(tmp_path: Path) -> None:
    for i in range(40):  # 40 one-pixel PNGs; at 8192x8192x3 float32 they would take 32 GiB
        folder = tmp_path / "images" / "train" / "abc"[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (1, 1), (i, i, i)).save(folder / f"{i}.png")
    spec = tmp_path / "spec.yaml"
    spec.write_text(HUGE_INPUT, encoding="utf-8")
    message, peak = peak_while(lambda: load(spec))
    assert "40 images decode to (40, 8192, 8192, 3): 32,212,254,720 bytes as float32" in message, message
    assert "refused before reading" in message and f"{tmp_path / 'images' / 'train'}: error:" in message
    assert peak < 50 * 2**20


@pytest.mark.parametrize(
    ("memory", "budget"), [(24 * 2**30, 3 * 2**30), (128 * 2**30, 8 * 2**30), (4 * 2**30, 2**29), (None, 8 * 2**30)]
)
def test_the_budget_follows_the_machine(memory: int | None, budget: int) -> None:
    from layerspec.images import dataset_budget

    assert dataset_budget(memory) == budget


def test_forty_one_pixel_images_do_not_become_4_gb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from layerspec import images

    monkeypatch.setattr(images, "MAX_DATASET_BYTES", images.dataset_budget(24 * 2**30))  # this machine's kind
    for i in range(40):
        folder = tmp_path / "images" / "train" / "abc"[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (1, 1), (i, i, i)).save(folder / f"{i}.png")
    spec = tmp_path / "spec.yaml"
    spec.write_text(HUGE_INPUT.replace("8192", "2900"), encoding="utf-8")
    message, peak = peak_while(lambda: load(spec))
    assert "40 images decode to (40, 2900, 2900, 3): 4,036,800,000 bytes as float32" in message, message
    assert peak < 50 * 2**20


def test_predict_counts_its_images_before_decoding(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "spec.yaml").write_text(HUGE_INPUT, encoding="utf-8")
    files = []
    for i in range(11):  # 11 x 768 MiB as float32: over the budget, whatever the machine
        files.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (1, 1)).save(files[-1])
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "run"), *files])
    assert result.exit_code == 3, result.output
    assert f"{tmp_path / 'run'}: error: the 11 images to predict decode to (11, 8192, 8192, 3)" in result.output


def test_h5_budget_counts_the_float32_arrays(good: Path) -> None:
    # 7.2 GiB of uint8 on disk (declared, nothing written), 28.6 GiB once converted to float32
    with h5py.File(good.parent / "train.h5", "a") as handle:
        del handle["train_set_x"], handle["train_set_y"]
        handle.create_dataset("train_set_x", shape=(40_000_000, 8, 8, 3), dtype=np.uint8, chunks=(1, 8, 8, 3))
        handle.create_dataset("train_set_y", shape=(40_000_000,), dtype=np.int64, chunks=(1024,))
    message, peak = peak_while(lambda: load(good))
    assert "declares shape (40000000, 8, 8, 3): 30,720,000,000 bytes as float32" in message, message
    assert peak < 50 * 2**20


def test_h5_budget_is_shared_by_every_split(good: Path) -> None:
    # each split alone (0.6 of the budget as float32) is within it, both together are not; neither is read
    from layerspec.images import MAX_DATASET_BYTES

    count = int(0.6 * MAX_DATASET_BYTES) // (8 * 8 * 3 * 4)
    for name, prefix in (("train.h5", "train"), ("test.h5", "test")):
        with h5py.File(good.parent / name, "a") as handle:
            del handle[f"{prefix}_set_x"], handle[f"{prefix}_set_y"]
            handle.create_dataset(f"{prefix}_set_x", shape=(count, 8, 8, 3), dtype=np.uint8, chunks=(1, 8, 8, 3))
            handle.create_dataset(f"{prefix}_set_y", shape=(count,), dtype=np.int64, chunks=(1024,))
    message, peak = peak_while(lambda: load(good))
    assert f"{good.parent / 'test.h5'}: error: dataset 'test_set_x' declares shape ({count}, 8, 8, 3)" in message
    assert f"on top of {count * 8 * 8 * 3 * 4:,} bytes for the other splits" in message, message
    assert peak < 50 * 2**20


@pytest.mark.keras
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras's own, while training
def test_evaluate_counts_a_test_folder_lacking_a_class_under_the_right_labels(tmp_path: Path) -> None:
    write_classes(tmp_path, "train", "abc")
    write_classes(tmp_path, "test", "ac")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        SPEC.replace("[8, 8, 3]", "[16, 16, 3]").format(data=SPLIT_FOLDERS) + "train: {epochs: 1, batch_size: 4}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    trained = runner.invoke(app, ["train", str(spec), "--out", str(tmp_path / "run")])
    assert trained.exit_code == 0, trained.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["class_names"] == ["a", "b", "c"]
    assert [sum(row) for row in metrics["confusion_matrix"]] == [2, 0, 2]  # the test split's true labels
