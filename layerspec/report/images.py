"""Pictures as `data:` URIs, so the report carries every image inside itself."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

# Sample images are small (64x64 in SIGNS); bigger ones are shrunk so that a report stays a few megabytes.
MAX_THUMBNAIL = 128


def data_uri(payload: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def display_range(x: np.ndarray[Any, Any]) -> tuple[float, float]:
    """The value range to map onto 0..255 for a whole split, guessed from how the spec scaled it.

    One range per split, not per image, so that a dark photo stays dark.
    """
    low, high = float(np.min(x)), float(np.max(x))
    for lo, hi in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if low >= lo and high <= hi:
            return lo, hi
    return low, high if high > low else low + 1.0


def to_uint8(image: np.ndarray[Any, Any], value_range: tuple[float, float]) -> np.ndarray[Any, Any]:
    lo, hi = value_range
    scaled = (np.asarray(image, dtype=np.float32) - lo) * (255.0 / (hi - lo))
    pixels: np.ndarray[Any, Any] = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return pixels


def png_uri(pixels: np.ndarray[Any, Any]) -> str:
    """A uint8 (H, W) or (H, W, 3|4) array as a base64 PNG `data:` URI."""
    picture = Image.fromarray(pixels)
    picture.thumbnail((MAX_THUMBNAIL, MAX_THUMBNAIL))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return data_uri(buffer.getvalue(), "image/png")
