"""Where each key and value of a loaded spec was written: the marks `layerspec/spec/yaml_source.py` records, and
the diagnostics that point at them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from layerspec.errors import Diagnostic

SourcePath = tuple[str | int, ...]


class Mark(NamedTuple):
    # A tuple rather than a dataclass: one is made for every key and value, and tuples are made several times
    # faster (it adds up to a tenth of a second on a 60,000-layer spec).
    line: int
    col: int


@dataclass
class SourceMap:
    """Where each path of the loaded document was written: the key's mark and the value's mark."""

    filename: str
    keys: dict[SourcePath, Mark] = field(default_factory=dict)
    values: dict[SourcePath, Mark] = field(default_factory=dict)
    # Paths whose value a command-line `--set` gave, and how it was written there: a complaint about such a
    # value (or anything inside it) names the override, not a line of the file.
    overrides: dict[SourcePath, str] = field(default_factory=dict)

    def locate(self, path: SourcePath, *, key: bool = False) -> Mark:
        """The mark of `path`, or of its nearest ancestor that was written in the file."""
        table = self.keys if key else self.values
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in table:
                return table[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return Mark(1, 1)

    def override(self, path: SourcePath) -> str | None:
        """The `--set KEY=VALUE` that gave `path` (or one of its ancestors), if one did."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.overrides:
                return self.overrides[path[:end]]
        return None

    def diagnostic(self, path: SourcePath, message: str, *, key: bool = False) -> Diagnostic:
        given = self.override(path)
        if given is not None:
            return Diagnostic(given, 0, 0, message)
        mark = self.locate(path, key=key)
        return Diagnostic(self.filename, mark.line, mark.col, message)
