"""Reading a spec file's text: size-limited, UTF-8, every failure a SpecError (layerspec/spec/yaml_source.py parses
it, and re-exports these)."""

from __future__ import annotations

from pathlib import Path

from layerspec.errors import SpecError
from layerspec.files import FileRefused, read_limited

MAX_FILE_BYTES = 4 * 1024 * 1024


def read_text(path: Path) -> str:
    """Read a spec file as UTF-8, turning every way of failing into a SpecError.

    A FIFO, a device, a directory or an oversized file is refused without reading past the size limit.
    """
    name = str(path)
    try:
        data = read_limited(path, MAX_FILE_BYTES, "a spec file")
    except FileRefused as exc:
        raise SpecError.single(name, exc.reason) from None
    except FileNotFoundError:
        raise SpecError.single(name, "no such file") from None
    except OSError as exc:
        raise SpecError.single(name, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError.single(
            name, f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it as UTF-8", line, col
        ) from None
