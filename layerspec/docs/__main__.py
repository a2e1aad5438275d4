"""`python -m layerspec.docs [--check] [ROOT]`: write the generated reference pages, or check them (exit 1)."""

from __future__ import annotations

import sys
from pathlib import Path

from layerspec.docs import REGENERATE, outdated_pages, write_pages


def main(argv: list[str]) -> int:
    check = "--check" in argv
    roots = [argument for argument in argv if argument != "--check"]
    root = Path(roots[0]) if roots else Path.cwd()
    if check:
        stale = outdated_pages(root)
        for page in stale:
            print(f"{page}: out of date; regenerate it with {REGENERATE}", file=sys.stderr)
        return 1 if stale else 0
    for page in write_pages(root):
        print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
