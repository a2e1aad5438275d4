"""Image files: formats detected by content, pixel conversions, bit depths, limits and non-regular files (no TF)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerspec import images as images_module
from layerspec.errors import DataError
from layerspec.images import read_image
from layerspec.spec.data import DataSpec

REPO = Path(__file__).resolve().parent.parent
RGB = DataSpec()  # rgb, scale 255, bilinear
GRAY = DataSpec(color_mode="grayscale")
RAW = DataSpec(scale=1.0)  # the [0, 255] values before scaling


def save(image: Image.Image, path: Path, format: str | None = None) -> Path:
    image.save(path, format=format)
    return path


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def refused(path: Path, spec: DataSpec = RGB) -> str:
    with pytest.raises(DataError) as caught:
        read_image(path, spec, (4, 4))
    assert caught.value.exit_code == 3
    message = str(caught.value)
    assert message.startswith(f"{path}: error: "), message
    return message


# ---------------------------------------------------------------------------------------------------- bit depth


def test_16_bit_grayscale_png_maps_to_the_8_bit_range(tmp_path: Path) -> None:
    eight = np.arange(16, dtype=np.uint8).reshape(4, 4) * 17  # 0, 17, ..., 255
    sixteen = eight.astype(np.uint16) * 257  # the same shades in 16 bits: 255 -> 65535
    png16 = save(Image.fromarray(sixteen), tmp_path / "g16.png")
    png8 = save(Image.fromarray(eight), tmp_path / "g8.png")
    assert Image.open(png16).mode == "I;16"
    for spec in (RGB, GRAY, RAW):
        np.testing.assert_allclose(read_image(png16, spec, (4, 4)), read_image(png8, spec, (4, 4)), atol=1e-6)
    scaled = read_image(png16, RGB, (4, 4))
    assert scaled.max() == pytest.approx(1.0) and len(np.unique(scaled)) == 16  # not clipped at 255/65535


def test_16_bit_grayscale_keeps_its_precision_when_resized(tmp_path: Path) -> None:
    values = np.array([[1000, 3000], [5000, 60000]], np.uint16)
    pixels = read_image(save(Image.fromarray(values), tmp_path / "g16.png"), RAW, (2, 2))
    np.testing.assert_allclose(pixels[:, :, 0], values * (255 / 65535), rtol=1e-5)
    assert read_image(tmp_path / "g16.png", RAW, (4, 4)).shape == (4, 4, 3)


def test_16_bit_colour_png_keeps_the_range(tmp_path: Path) -> None:
    rgb = np.full((2, 2, 3), 65535, ">u2")
    rgb[0, 0] = (0, 32896, 65535)
    rows = b"".join(b"\x00" + rgb[y].tobytes() for y in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 16, 2, 0, 0, 0)
    path = tmp_path / "rgb16.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )
    pixels = read_image(path, RAW, (2, 2))
    assert pixels[0, 0].tolist() == [0, 128, 255] and pixels[1, 1].tolist() == [255, 255, 255]


# ---------------------------------------------------------------------------------------------------- conversions


def test_palette_image_reads_as_its_colours(tmp_path: Path) -> None:
    source = Image.fromarray(np.random.default_rng(0).integers(0, 4, (4, 4, 3), dtype=np.uint8) * 60)
    palette = save(source.convert("P", palette=Image.Palette.ADAPTIVE, colors=64), tmp_path / "p.png")
    assert Image.open(palette).mode == "P"
    np.testing.assert_array_equal(read_image(palette, RAW, (4, 4)), np.asarray(source, np.float32))


def test_alpha_is_composited_over_black(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[0, :, 3] = 255  # opaque
    rgba[1, :, 3] = 128  # half
    rgba[2:, :, 3] = 0  # transparent: the hidden colour must not show
    pixels = read_image(save(Image.fromarray(rgba), tmp_path / "a.png"), RAW, (4, 4))
    assert pixels[0, 0].tolist() == [200, 100, 50]
    np.testing.assert_allclose(pixels[1, 0], [100, 50, 25], atol=1)
    assert pixels[2:].max() == 0
    gray = read_image(tmp_path / "a.png", DataSpec(scale=1.0, color_mode="grayscale"), (4, 4))
    assert gray.shape == (4, 4, 1) and gray[2:].max() == 0 and gray[0, 0, 0] == pytest.approx(124, abs=1)


def test_palette_transparency_is_composited_over_black(tmp_path: Path) -> None:
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    image.info["transparency"] = 1  # the white entry is transparent
    pixels = read_image(save(image, tmp_path / "pt.png"), RAW, (4, 4))
    assert pixels.max() == 0


def test_grayscale_and_bilevel_become_three_equal_channels(tmp_path: Path) -> None:
    gray = read_image(save(Image.new("L", (4, 4), 77), tmp_path / "l.png"), RAW, (4, 4))
    assert gray.shape == (4, 4, 3) and set(gray.reshape(-1).tolist()) == {77.0}
    bilevel = read_image(save(Image.new("1", (4, 4), 1), tmp_path / "b.png"), RAW, (4, 4))
    assert set(bilevel.reshape(-1).tolist()) == {255.0}


def test_cmyk_jpeg_uses_the_documented_formula(tmp_path: Path) -> None:
    path = save(Image.new("CMYK", (8, 8), (100, 0, 0, 100)), tmp_path / "c.jpg")
    assert Image.open(path).mode == "CMYK"
    # channel = (255 - C) * (255 - K) / 255: (94.2, 155, 155); JPEG's rounding moves it a step at most
    np.testing.assert_allclose(read_image(path, RAW, (8, 8))[0, 0], [94, 155, 155], atol=2)


def test_rgb_in_grayscale_mode_is_luma(tmp_path: Path) -> None:
    pixels = read_image(save(Image.new("RGB", (4, 4), (200, 100, 50)), tmp_path / "c.png"), GRAY, (4, 4))
    assert pixels.shape == (4, 4, 1)
    assert pixels[0, 0, 0] * 255 == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50, abs=1)


# ---------------------------------------------------------------------------------------------------- formats


def test_format_is_taken_from_the_content_not_the_name(tmp_path: Path) -> None:
    png_named_jpg = save(Image.new("RGB", (4, 4), (1, 2, 3)), tmp_path / "really_png.jpg", "PNG")
    assert read_image(png_named_jpg, RAW, (4, 4))[0, 0].tolist() == [1, 2, 3]
    for name, format in (("bmp", "BMP"), ("gif", "GIF"), ("jpeg", "JPEG")):
        assert read_image(save(Image.new("RGB", (4, 4)), tmp_path / f"x.{name}", format), RGB, (4, 4)).shape == (
            4,
            4,
            3,
        )


@pytest.mark.parametrize(
    ("format", "described"),
    [("TIFF", "a TIFF image"), ("WEBP", "a WebP image"), ("PPM", "a PNM/PPM image"), ("ICO", "an ICO image")],
)
def test_other_formats_named_png_are_refused(tmp_path: Path, format: str, described: str) -> None:
    path = save(Image.new("RGB", (16, 16), (9, 9, 9)), tmp_path / "other.png", format)
    assert f"not a JPEG, PNG, BMP or GIF image ({described}" in refused(path)


def test_text_named_png_and_truncated_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image\n", encoding="utf-8")
    assert "(it is text, by its content)" in refused(text)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    for kind, cut in (("png", 200), ("jpg", 300)):
        if kind == "jpg":
            buffer = io.BytesIO()
            Image.new("RGB", (64, 64), (5, 6, 7)).save(buffer, "JPEG")
        truncated = tmp_path / f"truncated.{kind}"
        truncated.write_bytes(buffer.getvalue()[:cut])
        assert "cannot decode the image" in refused(truncated)


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that declares width x height grey pixels and holds a few rows (a decompression bomb's start)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(bytes(4 * (width + 1)))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [10_000, 20_000])  # Pillow's warning (> 89 M pixels), then its error (> 179 M)
def test_decompression_bomb_warnings_and_errors_are_refusals(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(header_only_png(side, side))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "refused as a possible decompression bomb" in refused(path)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)), tmp_path / "big.png"
    )
    monkeypatch.setattr(images_module, "MAX_IMAGE_FILE_BYTES", 1000)
    assert "image file is larger than 1,000 bytes" in refused(path)


@pytest.mark.skipif(not Path("/proc/self/cmdline").is_file(), reason="needs Linux's /proc")
def test_a_file_whose_size_stat_does_not_tell_is_read_no_further_than_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = Path("/proc/self/cmdline")  # a regular file that stat says is empty; it holds this test's command line
    monkeypatch.setattr(images_module, "MAX_IMAGE_FILE_BYTES", 10)
    assert os.stat(path).st_size == 0
    assert "image file is larger than 10 bytes; refused without reading it all" in refused(path)


# ---------------------------------------------------------------------------------------------------- not files

READ_IN_A_CHILD = """\
import sys
from pathlib import Path
from layerspec.errors import DataError
from layerspec.images import read_image
from layerspec.spec.data import DataSpec
try:
    read_image(Path(sys.argv[1]), DataSpec(), (4, 4))
except DataError as exc:
    print(exc)
    sys.exit(exc.exit_code)
"""


def read_in_a_child(path: Path) -> subprocess.CompletedProcess[str]:
    """read_image in another process, so that a read that blocks fails the test (timeout) instead of hanging it."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", READ_IN_A_CHILD, str(path)], capture_output=True, text=True, env=env, timeout=60
    )


NOT_FILES = {
    "fifo": lambda path: os.mkfifo(path),
    "directory": lambda path: path.mkdir(),
    "dev_zero": lambda path: path.symlink_to("/dev/zero"),
}
NOT_FILE_MESSAGES = {
    "fifo": "not a regular file (a FIFO (named pipe))",
    "directory": "not a regular file (a directory)",
    "dev_zero": "not a regular file (a symbolic link to /dev/zero, a character device)",
}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("kind", sorted(NOT_FILES))
def test_what_is_not_a_regular_file_is_refused_without_reading(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "x.png"
    NOT_FILES[kind](path)
    done = read_in_a_child(path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert (
        done.stdout.strip()
        == f"{path}: error: {NOT_FILE_MESSAGES[kind]}; image files must be plain JPEG/PNG/BMP/GIF files"
    )


def test_a_symbolic_link_to_an_image_is_read(tmp_path: Path) -> None:
    target = save(Image.new("RGB", (4, 4), (3, 2, 1)), tmp_path / "real.png")
    (tmp_path / "link.png").symlink_to(target)
    assert read_image(tmp_path / "link.png", RAW, (4, 4))[0, 0].tolist() == [3, 2, 1]
