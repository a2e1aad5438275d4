"""Robustness fuzzing of the data stage: damaged and hostile HDF5 files and broken images end in a DataError
(exit code 3 on the command line), never in a crash, a traceback or a read of another file.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzz_settings import FUZZ, fuzz_examples, record
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from layerspec.cli import app
from layerspec.errors import DataError, SpecError
from layerspec.spec import load_spec

# Keras and numpy warn about deprecations while building; not this test's concern.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
h5py = pytest.importorskip("h5py")
data_module = pytest.importorskip("layerspec.data")

SPEC = """\
name: tiny
input: {{shape: [4, 4, 3]}}
layers:
  - {{type: Flatten}}
  - {{type: Dense, units: 3, activation: softmax}}
data:
  dir: .
  format: {format}
  train: {train}
  test: null
train: {{epochs: 1, batch_size: 4}}
"""


def write_spec(folder: Path, train: str = "train.h5", format: str = "h5") -> Path:
    path = folder / "spec.yaml"
    path.write_text(SPEC.format(train=train, format=format), encoding="utf-8")
    return path


def good_h5(path: Path, count: int = 6) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["train_set_x"] = rng.integers(0, 255, (count, 4, 4, 3), dtype=np.uint8)
        f["train_set_y"] = np.arange(count, dtype=np.int64) % 3
        f["list_classes"] = np.arange(3, dtype=np.int64)


def load(folder: Path) -> Any:
    return data_module.load_dataset(load_spec(folder / "spec.yaml"))


def expect_clean(folder: Path, *, may_load: bool = False, test: str = "data: hand-written hostile files") -> str:
    """The dataset loads (only when `may_load`) or fails with a DataError (or SpecError); nothing else."""
    try:
        dataset = load(folder)
    except (DataError, SpecError) as exc:
        assert str(exc).strip(), "an error without a message"
        record(test, f"refused ({type(exc).__name__})")
        return "refused"
    assert may_load, "a broken dataset loaded"
    assert np.isfinite(dataset.train.x).all()
    record(test, "loaded")
    return "loaded"


def test_good_file_loads(tmp_path: Path) -> None:
    write_spec(tmp_path)
    good_h5(tmp_path / "train.h5")
    dataset = load(tmp_path)
    assert dataset.train.x.shape[1:] == (4, 4, 3) and len(dataset.class_names) == 3


def _external_link(f: Any, folder: Path) -> None:
    good_h5(folder / "other.h5")
    f["train_set_x"] = h5py.ExternalLink(str(folder / "other.h5"), "train_set_x")
    f["train_set_y"] = np.zeros(6, np.int64)


def _soft_link(f: Any, folder: Path) -> None:
    f["real_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f["train_set_x"] = h5py.SoftLink("/real_x")
    f["train_set_y"] = np.zeros(6, np.int64)


def _virtual(f: Any, folder: Path) -> None:
    good_h5(folder / "other.h5")
    layout = h5py.VirtualLayout(shape=(6, 4, 4, 3), dtype=np.uint8)
    layout[:] = h5py.VirtualSource(str(folder / "other.h5"), "train_set_x", shape=(6, 4, 4, 3))
    f.create_virtual_dataset("train_set_x", layout)
    f["train_set_y"] = np.zeros(6, np.int64)


def _external_storage(f: Any, folder: Path) -> None:
    (folder / "raw.bin").write_bytes(bytes(6 * 48))
    f.create_dataset("train_set_x", (6, 4, 4, 3), np.uint8, external=[(str(folder / "raw.bin"), 0, 6 * 48)])
    f["train_set_y"] = np.zeros(6, np.int64)


def _absurd_shape(f: Any, folder: Path) -> None:
    f.create_dataset("train_set_x", (10**12, 4, 4, 3), np.uint8, chunks=(1, 4, 4, 3))
    f.create_dataset("train_set_y", (10**12,), np.int64, chunks=(1024,))


def _absurd_labels(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f.create_dataset("train_set_y", (2**40,), np.int64, chunks=(1024,))


def _nan_images(f: Any, folder: Path) -> None:
    x = np.zeros((6, 4, 4, 3), np.float32)
    x[2, 1, 1, 1] = np.nan
    f["train_set_x"] = x
    f["train_set_y"] = np.zeros(6, np.int64)


def _labels_out_of_range(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f["train_set_y"] = np.array([0, 1, 2, 3, -1, 99], np.int64)


def _string_images(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.array([b"abc"] * 6)
    f["train_set_y"] = np.zeros(6, np.int64)


def _compound_images(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros(6, dtype=[("a", np.int32), ("b", np.float32)])
    f["train_set_y"] = np.zeros(6, np.int64)


def _wrong_rank(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 48), np.uint8)
    f["train_set_y"] = np.zeros(6, np.int64)


def _wrong_size(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 5, 4, 3), np.uint8)
    f["train_set_y"] = np.zeros(6, np.int64)


def _label_count(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f["train_set_y"] = np.zeros((2, 6), np.int64)


def _float_labels(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f["train_set_y"] = np.full(6, 0.5)


def _empty(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((0, 4, 4, 3), np.uint8)
    f["train_set_y"] = np.zeros(0, np.int64)


def _scalar(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.uint8(3)
    f["train_set_y"] = np.int64(0)


def _groups(f: Any, folder: Path) -> None:
    f.create_group("train_set_x")
    f.create_group("train_set_y")


def _missing(f: Any, folder: Path) -> None:
    f["something_else"] = np.zeros(3)


def _bad_classes(f: Any, folder: Path) -> None:
    f["train_set_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f["train_set_y"] = np.zeros(6, np.int64)
    f["list_classes"] = np.zeros((2, 2, 2))


def _classes_link(f: Any, folder: Path) -> None:
    good_h5(folder / "other.h5")
    f["train_set_x"] = np.zeros((6, 4, 4, 3), np.uint8)
    f["train_set_y"] = np.zeros(6, np.int64)
    f["list_classes"] = h5py.ExternalLink(str(folder / "other.h5"), "list_classes")


HOSTILE_H5: dict[str, Callable[[Any, Path], None]] = {
    "external_link": _external_link,
    "soft_link": _soft_link,
    "virtual_dataset": _virtual,
    "external_storage": _external_storage,
    "absurd_shape": _absurd_shape,
    "absurd_labels": _absurd_labels,
    "nan_images": _nan_images,
    "labels_out_of_range": _labels_out_of_range,
    "string_images": _string_images,
    "compound_images": _compound_images,
    "wrong_rank": _wrong_rank,
    "wrong_size": _wrong_size,
    "label_count": _label_count,
    "float_labels": _float_labels,
    "empty": _empty,  # found by this test: an empty training set loaded without complaint
    "scalar": _scalar,
    "groups": _groups,
    "missing": _missing,
    "bad_classes": _bad_classes,
    "classes_link": _classes_link,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_H5))
def test_hostile_h5_is_refused(tmp_path: Path, name: str) -> None:
    write_spec(tmp_path)
    with h5py.File(tmp_path / "train.h5", "w") as f:
        HOSTILE_H5[name](f, tmp_path)
    assert expect_clean(tmp_path) == "refused"


NOT_H5 = {
    "empty_file": b"",
    "text": b"name: not an hdf5 file\n",
    "png": b"\x89PNG\r\n\x1a\n" + bytes(100),
    "hdf5_signature_only": b"\x89HDF\r\n\x1a\n" + bytes(2000),
}


@pytest.mark.parametrize("name", sorted(NOT_H5))
def test_non_h5_is_refused(tmp_path: Path, name: str) -> None:
    write_spec(tmp_path)
    (tmp_path / "train.h5").write_bytes(NOT_H5[name])
    assert expect_clean(tmp_path) == "refused"


def _good_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        good_h5(Path(folder) / "good.h5")
        return (Path(folder) / "good.h5").read_bytes()


GOOD_H5 = _good_bytes()


@settings(FUZZ, max_examples=fuzz_examples(0.5, minimum=30))
# Found by this test: h5py raised RuntimeError ("unknown symbol table entry cache type"), which was not caught.
@example(cut=0, flips=[(1177, 1)], truncate=False)
@given(
    cut=st.integers(0, len(GOOD_H5) - 1),
    flips=st.lists(st.tuples(st.integers(0, len(GOOD_H5) - 1), st.integers(0, 255)), max_size=8),
    truncate=st.booleans(),
)
def test_damaged_h5_loads_or_is_refused(cut: int, flips: list[tuple[int, int]], truncate: bool) -> None:
    data = bytearray(GOOD_H5)
    for at, value in flips:
        data[at] = value
    if truncate or not flips:
        del data[cut:]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        write_spec(folder)
        (folder / "train.h5").write_bytes(bytes(data))
        expect_clean(folder, may_load=bool(flips) and not truncate, test="data: damaged HDF5 files")


# ---- images ----------------------------------------------------------------------------------------------------


def _png(width: int = 4, height: int = 4) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 200, 10)).save(buffer, "JPEG")
    return buffer.getvalue()


def _encoded(format: str) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (120, 130, 140)).save(buffer, format)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header that declares a huge image (a decompression bomb's first step)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + bytes(64)


BROKEN_IMAGES = {
    "empty.png": b"",
    "text.jpg": b"not an image at all\n",
    "truncated.png": _png()[:30],
    "truncated.jpg": _jpeg()[:40],
    "bomb.png": _png_claiming(100_000, 100_000),
    "zero_size.png": _png_claiming(0, 0),
    "h5_named.png": GOOD_H5[:500],
    # Found by this test: Pillow opened any format it knows, whatever the name said, and the folder reader skipped
    # TIFF and WebP files without a word.
    "tiff_named.png": _encoded("TIFF"),
    "webp_named.jpg": _encoded("WEBP"),
    "ppm_named.png": _encoded("PPM"),
    "ico_named.bmp": _encoded("ICO"),
    "scan.tiff": _encoded("TIFF"),
    "photo.webp": _encoded("WEBP"),
}


def image_folder(folder: Path, name: str, data: bytes) -> None:
    for label in ("a", "b", "c"):
        (folder / "train" / label).mkdir(parents=True, exist_ok=True)
        (folder / "train" / label / "ok.png").write_bytes(_png())
    (folder / "train" / "b" / name).write_bytes(data)
    write_spec(folder, train="train", format="folder")


@pytest.mark.parametrize("name", sorted(BROKEN_IMAGES))
def test_broken_image_is_refused(tmp_path: Path, name: str) -> None:
    image_folder(tmp_path, name, BROKEN_IMAGES[name])
    assert expect_clean(tmp_path) == "refused"


GOOD_PNG = _png()


@settings(FUZZ, max_examples=fuzz_examples(0.5, minimum=30))
@given(
    suffix=st.sampled_from([".png", ".jpg", ".gif", ".bmp"]),
    seed=st.sampled_from(["png", "jpeg"]),
    flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
    cut=st.integers(0, 400),
)
def test_damaged_image_loads_or_is_refused(suffix: str, seed: str, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(GOOD_PNG if seed == "png" else _jpeg())
    for at, value in flips:
        if at < len(data):
            data[at] = value
    del data[cut:]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        image_folder(folder, f"damaged{suffix}", bytes(data))
        expect_clean(folder, may_load=True, test="data: damaged images")


# ---- what is not a regular file ----------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
NOT_REGULAR: dict[str, Callable[[Path], None]] = {
    "fifo.png": lambda path: os.mkfifo(path),  # opening it for reading would wait for a writer forever
    "folder.png": lambda path: path.mkdir(),
    "zero.png": lambda path: path.symlink_to("/dev/zero"),  # endless bytes
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`layerspec ARGS` in a child process with a timeout, so a hang fails the test instead of stalling it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = "from layerspec.cli import app; app()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("name", sorted(NOT_REGULAR))
def test_train_exits_3_on_an_image_that_is_not_a_regular_file(tmp_path: Path, name: str) -> None:
    image_folder(tmp_path, "also_ok.png", _png())
    NOT_REGULAR[name](tmp_path / "train" / "b" / name)
    done = run_cli("train", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "run"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"{tmp_path / 'train' / 'b' / name}: error: not a regular file (" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
def test_predict_exits_3_on_images_that_are_not_regular_files(tmp_path: Path) -> None:
    # The images are read before the model is loaded, so a run folder with only its spec.yaml is enough here.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "spec.yaml").write_text(SPEC.format(train="train.h5", format="h5"), encoding="utf-8")
    for name, make in sorted(NOT_REGULAR.items()):
        make(tmp_path / name)
        done = run_cli("predict", str(tmp_path / "run"), str(tmp_path / name))
        assert done.returncode == 3, f"{name}: {done.stdout}{done.stderr}"
        assert done.stderr.startswith(f"{tmp_path / name}: error: not a regular file ("), done.stderr


# ---- the command line --------------------------------------------------------------------------------------------


@pytest.mark.keras
@pytest.mark.parametrize("name", ["external_link", "virtual_dataset", "absurd_shape", "nan_images"])
def test_train_exits_3_on_hostile_h5(tmp_path: Path, name: str) -> None:
    spec = write_spec(tmp_path)
    with h5py.File(tmp_path / "train.h5", "w") as f:
        HOSTILE_H5[name](f, tmp_path)
    result = CliRunner().invoke(app, ["train", str(spec), "--out", str(tmp_path / "run"), "--epochs", "1"])
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert result.exit_code == 3, result.output
    assert f"{tmp_path / 'train.h5'}: error: " in result.output, result.output


@pytest.mark.keras
def test_predict_exits_3_on_broken_images(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    built = CliRunner().invoke(app, ["build", str(spec), "--out", str(tmp_path / "run")])
    assert built.exit_code == 0, built.output
    for name, data in sorted(BROKEN_IMAGES.items()):
        (tmp_path / name).write_bytes(data)
        result = CliRunner().invoke(app, ["predict", str(tmp_path / "run"), str(tmp_path / name)])
        assert "Traceback" not in result.output and "internal error" not in result.output, result.output
        assert result.exit_code == 3, f"{name}: {result.output}"
