"""The kinds of bad input layerspec reports, one exception type each.

Nothing below the CLI prints or exits: library code raises these, and `layerspec.cli` turns them into
`PATH:LINE:COL: error: MESSAGE` lines and an exit code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

EXIT_OK = 0
EXIT_BUG = 1
EXIT_BAD_SPEC = 2
EXIT_BAD_DATA = 3
EXIT_INTERRUPTED = 130


def escape_text(text: str) -> str:
    """`text` with every character that is not printable written as Python's repr writes it (\\n, \\x1b, \\u202e).

    File names and names in a spec may hold newlines, terminal escape sequences or right-to-left marks, which
    could forge an error line or rewrite the terminal. Printable text, backslashes included, is left as it is, so
    a value already shown with repr() is not escaped twice and escaping is idempotent.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Diagnostic:
    """One message with the place in a file it is about (1-based line and column; 0 if unknown).

    A warning is about a spec that works but probably not as meant; only errors stop a command. A note adds to
    the error before it (such as the YAML parser's own words); `interrupted` reports a stop the user asked for.
    """

    path: str
    line: int
    col: int
    message: str
    severity: Literal["error", "warning", "note", "interrupted"] = "error"

    def format(self) -> str:
        """One line, `PATH:LINE:COL: error: MESSAGE`, whatever the path and message hold."""
        path, message = escape_text(self.path), escape_text(self.message)
        if self.line <= 0:
            return f"{path}: {self.severity}: {message}"
        return f"{path}:{self.line}:{self.col}: {self.severity}: {message}"


def in_file_order(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics as a reader meets them in the file: by line, then column (then message, for a stable order)."""
    return sorted(diagnostics, key=lambda d: (d.line, d.col, d.message))


@dataclass
class LayerspecError(Exception):
    """Base of every error layerspec reports to a user; carries one or more diagnostics."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    exit_code: int = EXIT_BUG

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


class SpecError(LayerspecError):
    """A spec that cannot be loaded, validated, inferred or built as written (exit code 2)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(diagnostics, 2)

    @classmethod
    def single(cls, path: str, message: str, line: int = 0, col: int = 0) -> SpecError:
        return cls([Diagnostic(path, line, col, message)])


class UsageError(LayerspecError):
    """A command line that asks for something impossible: a missing run, a bad option (exit code 2)."""

    def __init__(self, message: str, path: str = "layerspec") -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], 2)


class ModelRefused(LayerspecError):
    """A Keras model `import` will not turn into a spec: unsafe or outside the registry (exit code 2)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], 2)


class DataError(LayerspecError):
    """A dataset or image that is missing, malformed or does not fit the spec (exit code 3)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], 3)


class CompilerBug(LayerspecError):
    """The compiled Keras model disagrees with the static inference: a bug in layerspec (exit code 1)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], 1)
