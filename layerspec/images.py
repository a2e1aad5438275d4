"""Image files (folder datasets and `layerspec predict`): which files are read, and how pixels become arrays.

Refused with a DataError naming the file (exit code 3), before or while decoding: anything that is not a regular
file (a FIFO, a device, a directory; checked with stat before opening, and again on the open descriptor, which is
opened without blocking), files over MAX_IMAGE_FILE_BYTES (never read past that), contents that are not JPEG, PNG,
BMP or GIF (detected from the bytes, whatever the name says), images over MAX_IMAGE_PIXELS, Pillow's
decompression-bomb warnings and errors, and anything Pillow cannot decode in full (a truncated file).

How pixels are converted is documented in docs/data.md; `to_pixels` implements it.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from layerspec.errors import DataError
from layerspec.spec.data import DataSpec

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what image_dataset_from_directory reads
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "GIF")  # the only Pillow plugins asked to open a file
# Pillow reports a camera's multi-picture JPEG as MPO; its first picture, the one decoded, is a plain JPEG.
DETECTED_FORMATS = frozenset({*IMAGE_FORMATS, "MPO"})
MAX_IMAGE_FILE_BYTES = 256 * 2**20  # an image file bigger than this is refused, and never read further
MAX_IMAGE_PIXELS = 50_000_000  # a decoded image bigger than this is refused (decompression bombs)
MAX_DATASET_CAP = 8 * 2**30  # decoded float32 pixels of all splits together, claimed before reading
# The arrays are held in memory, and training holds copies of them (tf.data, augmentation, the model's batches):
# an eighth of the machine's memory leaves room for those, so the budget is the smaller of the two.
MEMORY_SHARE = 8


def dataset_budget(total_memory: int | None) -> int:
    """The bytes a decoded dataset may take on a machine with `total_memory` bytes (None: unknown)."""
    if total_memory is None or total_memory <= 0:
        return MAX_DATASET_CAP
    return min(MAX_DATASET_CAP, total_memory // MEMORY_SHARE)


def total_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


MAX_DATASET_BYTES = dataset_budget(total_memory())
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})  # 16-bit grayscale PNG
PLAIN_MODES = frozenset({"1", "L", "P", "RGB", "CMYK", "YCbCr"})
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


@dataclass
class MemoryBudget:
    """The bytes the decoded dataset may take (float32 pixels, every split together), claimed before decoding."""

    limit: int = field(default_factory=lambda: MAX_DATASET_BYTES)
    used: int = 0

    def claim(self, shape: Sequence[int], path: Path | str, what: str, fix: str) -> None:
        """Reserve float32 room for an array of `shape`, or refuse it before anything is read.

        `what` begins the message, e.g. "dataset 'x' declares shape"; the shape follows it, then `fix`.
        """
        nbytes = 4
        for dim in shape:
            nbytes *= int(dim)
        if self.used + nbytes > self.limit:
            others = f" on top of {self.used:,} bytes for the other splits" if self.used else ""
            raise DataError(
                str(path),
                f"{what} {tuple(shape)}: {nbytes:,} bytes as float32{others}, more than the "
                f"{self.limit / 2**30:g} GiB layerspec loads; refused before reading ({fix})",
            )
        self.used += nbytes


def channels_of(spec: DataSpec) -> int:
    return 3 if spec.color_mode == "rgb" else 1


def decoded_shape(count: int, spec: DataSpec, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The shape `count` image files decode to: (N, height, width, channels)."""
    return count, size[0], size[1], channels_of(spec)


def read_images(paths: Sequence[Path], spec: DataSpec, size: tuple[int, int]) -> np.ndarray:
    """Decode every file into one preallocated (N, height, width, channels) float32 array.

    The caller claims `decoded_shape` from a MemoryBudget first; filling one array (rather than stacking a list)
    keeps the peak at the size claimed.
    """
    out = np.empty(decoded_shape(len(paths), spec, size), np.float32)
    for i, path in enumerate(paths):
        out[i] = read_image(path, spec, size)
    return out


def read_image(path: Path, spec: DataSpec, size: tuple[int, int]) -> np.ndarray:
    """One image file as a (height, width, channels) float32 array, resized to `size` and divided by data.scale."""
    pixels = to_pixels(decode(read_bytes(path), path), spec.color_mode, size, spec.interpolation, path)
    pixels /= np.float32(spec.scale)
    return pixels


# ---------------------------------------------------------------------------------------------------- the file


def read_bytes(path: Path) -> bytes:
    """The file's bytes, if it is a regular file of at most MAX_IMAGE_FILE_BYTES; never blocks on a FIFO."""
    try:
        _require_plain(os.stat(path), path)
        # O_NONBLOCK: if a FIFO replaced the file since the stat, opening it returns at once instead of waiting.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(str(path), "no such image file") from None
    except OSError as exc:
        raise DataError(str(path), f"cannot open the image file: {exc.strerror or exc}") from None
    try:
        _require_plain(os.fstat(fd), path)
        data = _read_at_most(fd, MAX_IMAGE_FILE_BYTES + 1)  # the size may have changed since the stat
    except OSError as exc:
        raise DataError(str(path), f"cannot read the image file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_IMAGE_FILE_BYTES:
        raise DataError(str(path), _too_big(None))
    return data


def _too_big(size: int | None) -> str:
    found = f" ({size:,} bytes)" if size is not None else ""
    return f"image file is larger than {MAX_IMAGE_FILE_BYTES:,} bytes{found}; refused without reading it all"


def _require_plain(status: os.stat_result, path: Path) -> None:
    """A regular file within the size limit; else a DataError saying what it is."""
    _require_regular(status.st_mode, path)
    if status.st_size > MAX_IMAGE_FILE_BYTES:
        raise DataError(str(path), _too_big(status.st_size))


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _require_regular(mode: int, path: Path) -> None:
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in FILE_KINDS if test(mode)), "not a plain file")
    if os.path.islink(path):
        kind = f"a symbolic link to {os.path.realpath(path)}, {kind}"
    raise DataError(str(path), f"not a regular file ({kind}); image files must be plain JPEG/PNG/BMP/GIF files")


# ---------------------------------------------------------------------------------------------------- decoding

# What Pillow raises on damaged data besides OSError: SyntaxError from the PNG chunk reader, struct.error and
# IndexError from header parsers, EOFError from GIF frames.
DECODE_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error)


def decode(data: bytes, path: Path) -> Any:
    """The fully decoded Pillow image; DataError if it is not an allowed format, too large or broken."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; a warning is a refusal here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
            _check_opened(image, path)
            image.load()
    except DataError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(str(path), f"refused as a possible decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise DataError(str(path), f"not a JPEG, PNG, BMP or GIF image ({_sniff(data)}, by its content)") from None
    except DECODE_ERRORS as exc:
        raise DataError(str(path), f"cannot decode the image: {exc}") from None
    return image


def _check_opened(image: Any, path: Path) -> None:
    if image.format not in DETECTED_FORMATS:
        raise DataError(str(path), f"image format {image.format} is not read (only JPEG, PNG, BMP and GIF)")
    if image.width * image.height > MAX_IMAGE_PIXELS:
        raise DataError(
            str(path),
            f"image of {image.width}x{image.height} pixels is too large (limit {MAX_IMAGE_PIXELS:,}); refused",
        )
    if image.width * image.height == 0:
        raise DataError(str(path), f"image of {image.width}x{image.height} pixels is empty")


SIGNATURES = (
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\x00\x00\x01\x00", "an ICO image"),
    (b"8BPS", "a Photoshop file"),
)


def _sniff(data: bytes) -> str:
    """What the bytes look like, for the error message."""
    if not data:
        return "the file is empty"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    for signature, name in SIGNATURES:
        if data.startswith(signature):
            return name
    if data[:1] == b"P" and data[1:2] in b"123456" and data[2:3].isspace():
        return "a PNM/PPM image"
    if data[:12].endswith(b"ftypavif") or data[4:12] in (b"ftypheic", b"ftypmif1"):
        return "an AVIF/HEIF image"
    head = data[:512]
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return "it is text"
    return "unrecognised content, or a damaged header"


# ---------------------------------------------------------------------------------------------------- pixels


def to_pixels(image: Any, color_mode: str, size: tuple[int, int], interpolation: str, path: Path) -> np.ndarray:
    """(height, width, channels) float32 in [0, 255] whatever the file's bit depth, resized to `size`."""
    from PIL import Image

    methods = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}
    method = methods.get(interpolation, Image.Resampling.BICUBIC)
    target = (size[1], size[0])
    if image.mode in SIXTEEN_BIT_MODES:
        gray = _sixteen_bit(image, path)
        if gray.size != target:
            gray = gray.resize(target, method)
        values = np.array(gray, dtype=np.float32)[:, :, None]  # a copy: Pillow's buffer is read-only
        return values if color_mode == "grayscale" else np.repeat(values, 3, axis=2)
    rgb_or_l = _eight_bit(image, color_mode, path)
    if rgb_or_l.size != target:
        rgb_or_l = rgb_or_l.resize(target, method)
    pixels = np.array(rgb_or_l, dtype=np.float32)  # a copy: Pillow's buffer is read-only
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _sixteen_bit(image: Any, path: Path) -> Any:
    """A 16-bit grayscale PNG as a float ("F") image in [0, 255]: 65535 maps to 255, as 255 does in 8 bits."""
    from PIL import Image

    values = np.asarray(image).astype(np.float32)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise DataError(str(path), f"{image.mode} pixels outside 0..65535; not a 16-bit grayscale image")
    return Image.fromarray(values * np.float32(255 / 65535))  # float32: Pillow's "F" mode


def _eight_bit(image: Any, color_mode: str, path: Path) -> Any:
    """An "RGB" or "L" Pillow image: palettes expanded, alpha composited over black, CMYK by Pillow's formula."""
    from PIL import Image

    mode = "RGB" if color_mode == "rgb" else "L"
    if image.mode in ALPHA_MODES or (image.mode in PLAIN_MODES and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert(mode)
    if image.mode in PLAIN_MODES:
        return image.convert(mode)
    raise DataError(str(path), f"pixel mode {image.mode} is not supported (8-bit or 16-bit images only)")
