"""The checks every run file goes through before its model: size, JSON, nesting depth, numbers in range.

Python's `json` accepts what no layerspec writer produces and then fails far from the file: NaN and Infinity,
`1e999` (read as infinity), integers of thousands of digits (a ValueError) and nesting deep enough to exhaust the
interpreter's stack (a RecursionError). Each of these is bad data here, naming the file and the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from layerspec.errors import DataError
from layerspec.files import read_text_limited

MAX_JSON_BYTES = 64 * 2**20  # a 1,000-class metrics.json is a few megabytes
MAX_DEPTH = 20  # layerspec nests its JSON files at most 6 levels deep
MAX_INT = 2**53  # the largest integer every JSON reader holds exactly
MAX_FLOAT = 3.4e38  # float32's range: no figure a Keras model produces is larger

Model = TypeVar("Model", bound=BaseModel)


def parse_json(text: str, path: Path | str, max_depth: int = MAX_DEPTH) -> Any:
    """`text` parsed as JSON and checked for depth and numbers, or DataError naming `path` and the field."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise DataError(str(path), f"nested more than {max_depth} levels deep: not a file layerspec wrote") from None
    except json.JSONDecodeError as exc:
        raise DataError(str(path), f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except ValueError as exc:  # NaN/Infinity, or an integer longer than Python converts
        raise DataError(str(path), f"not valid JSON: {exc}") from None
    _check_values(value, str(path), max_depth)
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number layerspec writes (JSON has no NaN or Infinity)")


def _check_values(value: Any, path: str, max_depth: int) -> None:
    """Every number finite and in range, and no deeper nesting than `max_depth` (iteratively: no recursion)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if len(where) > max_depth:
            raise DataError(path, f"{field_name(where[:max_depth])}...: nested more than {max_depth} levels deep")
        if isinstance(item, dict):
            stack.extend((v, (*where, str(k))) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(item))
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and abs(item) > MAX_INT:
            raise DataError(path, f"{field_name(where)}: the integer {item:.3e} is too large (at most 2**53)")
        elif isinstance(item, float) and not (math.isfinite(item) and abs(item) <= MAX_FLOAT):
            raise DataError(path, f"{field_name(where)}: the number {item} is out of range (finite, at most 3.4e38)")


def field_name(where: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in where) or "the top level"


def read_json(path: Path) -> Any:
    """The checked content of a JSON file, or DataError saying why it cannot be read."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise DataError(str(path), f"{size:,} bytes: larger than any run file layerspec writes")
        text = read_text_limited(path, MAX_JSON_BYTES)  # a FIFO or device is refused, not read until it ends
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(str(path), f"cannot read the file: {exc}") from None
    return parse_json(text, path)


def validate(raw: Any, model: type[Model], path: Path | str) -> Model:
    """`raw` as `model`, or DataError naming the first field that does not fit, and what it held."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_name(tuple(first["loc"]))
        received = "" if first["type"] == "missing" else f" (received {_short(first.get('input'))})"
        why = str(first["msg"]).removeprefix("Value error, ")
        message = f"does not fit the run-folder contract: {where}: {why}{received}"
        raise DataError(str(path), message) from None


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
