"""`--set KEY=VALUE`: values given on the command line, put into the parsed YAML before the schema sees it.

A key is a dotted path into the spec (`train.optimizer.learning_rate`), with `[N]` for a list's entry
(`input.shape[0]`); under `layers`, a name picks the entry of that name (`layers.conv0.filters`) and `[N]` the
N-th entry (`layers[3].filters`). The value is a YAML scalar or flow collection, read exactly as the file's values
are, and the whole spec is then validated as usual: an override is as strict as the file. Anything wrong with an
override is reported as `--set KEY=VALUE: error: ...`, so the user sees which one, while every other complaint
still points at its line in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from layerspec.errors import SpecError
from layerspec.spec.diagnostics import did_you_mean
from layerspec.spec.yaml_source import SourceMap, SourcePath, parse_value

MAX_OVERRIDES = 256
_PART = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)?((?:\[\d{1,6}\])*)$")
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Override:
    """One `--set`: the text as given, its key split into parts, and its value."""

    text: str
    key: tuple[str | int, ...]
    value: Any

    @property
    def label(self) -> str:
        return f"--set {self.text}"


def parse_override(text: str) -> Override:
    """`KEY=VALUE` split and read; SpecError (naming the override) when either part cannot be read."""
    label = f"--set {text}"
    key_text, equals, value_text = text.partition("=")
    if not equals or not key_text.strip():
        raise SpecError.single(label, "expected KEY=VALUE, such as train.batch_size=32 or layers.conv0.filters=16")
    key = _parse_key(key_text.strip(), label)
    value, problems = parse_value(value_text, label)
    if problems:
        raise SpecError(problems)
    return Override(text, key, value)


def _parse_key(text: str, label: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for piece in text.split("."):
        match = _PART.match(piece)
        if match is None or match[1] is None:
            raise SpecError.single(
                label,
                f"'{text}' is not a key: write names joined by dots, with [N] for a list's entry "
                "(train.optimizer.learning_rate, layers.conv0.filters, layers[3].units)",
            )
        if match[1] is not None:
            parts.append(match[1])
        parts.extend(int(index) for index in _INDEX.findall(match[2]))
    return tuple(parts)


def apply_overrides(raw: dict[str, Any], source: SourceMap, overrides: Iterable[str]) -> list[Override]:
    """Put each override's value into `raw` (in place, in the order given; a later one wins) and tell `source`
    which paths they gave. Raises SpecError naming every override that addresses nothing."""
    given = list(overrides)
    if len(given) > MAX_OVERRIDES:
        raise SpecError.single("--set", f"{len(given)} overrides given; at most {MAX_OVERRIDES} are accepted")
    applied, problems = [], []
    for text in given:
        try:
            override = parse_override(text)
            path = _place(raw, override)
        except SpecError as exc:
            problems.extend(exc.diagnostics)
            continue
        source.overrides = {p: t for p, t in source.overrides.items() if p[: len(path)] != path}
        source.overrides[path] = override.label
        applied.append(override)
    if problems:
        raise SpecError(problems)
    return applied


def _place(raw: dict[str, Any], override: Override) -> SourcePath:
    """Set the value at the override's key; the YAML path of the shallowest value it gave (a mapping it had to
    create on the way, else the value itself), with a named layer as its index."""
    container: Any = raw
    path: list[str | int] = []
    created: SourcePath | None = None
    key = list(override.key)
    while key:
        part = key.pop(0)
        if path == ["layers"] and isinstance(part, str):
            part = _layer_index(container, part, override.label)
        if not key:
            _assign(container, part, override.value, path, override.label)
            return created or (*path, part)
        if created is None and isinstance(container, dict) and container.get(part) is None:
            created = (*path, part)
        container = _child(container, part, path, override.label)
        path.append(part)
    raise SpecError.single(override.label, "the key names nothing")  # pragma: no cover (a key has a part)


def _child(container: Any, part: str | int, path: list[str | int], label: str) -> Any:
    """The value at `part` inside `container`, a new mapping when a mapping lacks the key."""
    if isinstance(part, int):
        _check_index(container, part, path, label)
        return container[part]
    if not isinstance(container, dict):
        raise SpecError.single(label, f"{_where(path)} is {_kind(container)}, not a mapping: it has no key '{part}'")
    if container.get(part) is None:
        container[part] = {}
    return container[part]


def _assign(container: Any, part: str | int, value: Any, path: list[str | int], label: str) -> None:
    if isinstance(part, int):
        _check_index(container, part, path, label)
    elif not isinstance(container, dict):
        raise SpecError.single(label, f"{_where(path)} is {_kind(container)}, not a mapping: it has no key '{part}'")
    container[part] = value


def _check_index(container: Any, index: int, path: list[str | int], label: str) -> None:
    if not isinstance(container, list):
        raise SpecError.single(label, f"{_where(path)} is {_kind(container)}, not a list: it has no entry [{index}]")
    if index >= len(container):
        entries = f"entries [0] to [{len(container) - 1}]" if container else "no entries"
        raise SpecError.single(label, f"{_where(path)} has {entries}: there is no [{index}]")


def _layer_index(layers: Any, name: str, label: str) -> int:
    """The index of the `layers:` entry named `name` (a layer or a block use)."""
    if not isinstance(layers, list):
        raise SpecError.single(label, f"the spec's `layers` is {_kind(layers)}, not a list of layers")
    names = [entry.get("name") if isinstance(entry, dict) else None for entry in layers]
    if name in names:
        return names.index(name)
    known = [n for n in names if isinstance(n, str)]
    raise SpecError.single(
        label,
        f"no entry of `layers` is named '{name}'{did_you_mean(name, known)} "
        "(a layer inside a block is set through the block use's `with:`, or by its position: layers[N])",
    )


def _where(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return f"`{text}`" if text else "the spec"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    return f"{kinds.get(type(value), 'a value')} ({value!r})"
