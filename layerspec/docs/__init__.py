"""Reference pages generated from the models, so they cannot drift from the code: `python -m layerspec.docs`
writes them, `python -m layerspec.docs --check` says which are out of date (a test runs the check)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from layerspec.docs.pages import PAGES, undocumented_run_fields, undocumented_spec_fields

REGENERATE = "make docs (or: python -m layerspec.docs)"

__all__ = [
    "PAGES",
    "REGENERATE",
    "outdated_pages",
    "undocumented_run_fields",
    "undocumented_spec_fields",
    "write_pages",
]


def outdated_pages(root: Path) -> list[str]:
    """The pages under `root` whose text is not what the models render now (missing pages included)."""
    stale = []
    for relative, render in PAGES.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != render():
            stale.append(relative)
    return stale


def _write_atomically(path: Path, text: str) -> None:
    """A reader sees the old page or the new one, never half of it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_pages(root: Path) -> list[str]:
    """Render every page into `root` (each written atomically); returns the pages whose text changed."""
    changed = outdated_pages(root)
    for relative in changed:
        _write_atomically(root / relative, PAGES[relative]())
    return changed
