"""Mutators for the robustness fuzz tests: specs damaged at the byte level and at the YAML-tree level.

The seeds are the specs of the test suite (tests/cases/**, specs/*.yaml). Byte mutations flip, insert, delete,
duplicate and truncate; tree mutations parse a seed and drop keys, change types, put huge, negative, NaN or
oddly typed values anywhere, nest deeply, write long or strange strings and add aliases.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]


def seed_files() -> list[Path]:
    """Every spec-like YAML file the suite holds (read when the tests are collected, so new cases join in)."""
    found = sorted((ROOT / "tests" / "cases").rglob("*.yaml")) + sorted((ROOT / "specs").glob("*.yaml"))
    return [p for p in found if p.stat().st_size < 200_000]


def _tree(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_bytes())
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def tree_size(tree: Any, limit: int = 5000) -> int:
    """Number of nodes, counting shared (aliased) ones each time they appear; stops counting past `limit`."""
    count, stack = 0, [tree]
    while stack and count <= limit:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def seed_trees() -> list[Any]:
    """Seeds that parse as a YAML mapping of modest size (an alias bomb among the bad cases is left out)."""
    trees = [_tree(p) for p in seed_files()]
    return [t for t in trees if isinstance(t, dict) and tree_size(t) <= 5000]


# ---- byte level ----------------------------------------------------------------------------------------------

TOKENS = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xef\xbb\xbf",
    b"\n",
    b"\r",
    b"\t",
    b" ",
    b":",
    b": ",
    b"- ",
    b"-",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b"#",
    b"'",
    b'"',
    b"&a ",
    b"*a",
    b"!!python/object/apply:os.system ['echo hi']",
    b"!!binary ",
    b"!custom ",
    b"<<: ",
    b"? ",
    b"|",
    b">",
    b"%YAML 1.1\n---\n",
    b"---\n",
    b"...\n",
    b"null",
    b"~",
    b"true",
    b"no",
    b".nan",
    b"-.inf",
    b"1e400",
    b"0x7fffffffffffffff",
    b"-2147483649",
    b"9" * 40,
    b"0",
    b"-1",
    "\u202e\u00e9\U0001f600\u0301".encode(),
    "\ufffe".encode(),
    b"\\x00",
]


@st.composite
def byte_mutants(draw: Any, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 5))
        at = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif op == 2:
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == 3:
            del data[at : at + draw(st.integers(1, 40))]
        elif op == 4:
            end = min(len(data), at + draw(st.integers(1, 200)))
            data[at:at] = data[at:end] * draw(st.integers(1, 3))
        else:
            del data[at:]
    return bytes(data)


# ---- tree level ----------------------------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "x" * 10_000,
    "Conv2d",
    "conv2d",
    "a\x00b",
    "\u202eevil",
    "名前",
    "\U0001f600",
    "e\u0301",
    "${filters}",
    "$input",
    "../../etc/passwd",
    "/dev/zero",
    "%s%n",
    "{{ 7*7 }}",
    "<script>alert(1)</script>",
    "1e3",
    "0x10",
    "nan",
    "True",
    "None",
    "input",
    "layers",
]

ODD_NUMBERS: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    -(2**31),
    2**31,
    2**31 - 1,
    2**63,
    2**64 + 1,
    10**29,
    -(10**29),
    0.0,
    -0.0,
    0.5,
    -0.5,
    1.0,
    1e-320,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
]


def odd_values() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        st.sampled_from(ODD_NUMBERS),
        st.sampled_from(ODD_STRINGS),
        st.sampled_from([None, True, False, [], {}]),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=8,
    )


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of the tree (the root included)."""
    out = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out += _paths(value, (*prefix, i))
    return out


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _deep(depth: int, value: Any) -> Any:
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def _mutate_at(draw: Any, tree: Any, path: tuple[Any, ...]) -> Any:
    """Replace, drop, retype or enlarge the node at `path`; returns the new tree."""
    node = _get(tree, path)
    op = draw(st.integers(0, 8))
    if op == 0:
        new: Any = draw(odd_values())
    elif op == 1:
        new = [node]
    elif op == 2:
        new = str(node)
    elif op == 3:
        new = _deep(draw(st.integers(5, 150)), node)
    elif op == 4 and isinstance(node, int | float) and not isinstance(node, bool):
        new = draw(st.sampled_from([-node, node * 10**9, node + 1, node - 1, 0, float(node) + 0.5]))
    elif op == 5 and isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node, key=str)))
        new = {k: v for k, v in node.items() if k != key}  # drop a key
    elif op == 6 and isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node, key=str)))
        new = {(f"{key}s" if k == key else k): v for k, v in node.items()}  # misspell a key
    elif op == 7 and isinstance(node, list) and node:
        new = node + node[: draw(st.integers(1, len(node)))]  # duplicate entries (names, layers)
    else:
        new = None if draw(st.booleans()) else draw(st.sampled_from(ODD_STRINGS))
    if not path:
        return new
    parent = _get(tree, path[:-1])
    parent[path[-1]] = new
    return tree


@st.composite
def tree_mutants(draw: Any, trees: list[Any], most: int = 4) -> str:
    """A seed spec with one to `most` nodes changed, written back as YAML (sometimes with anchors and aliases)."""
    import copy

    tree = copy.deepcopy(draw(st.sampled_from(trees)))
    for _ in range(draw(st.integers(1, most))):
        paths = _paths(tree)
        tree = _mutate_at(draw, tree, draw(st.sampled_from(paths)))
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=draw(st.booleans()), width=10_000)
    if draw(st.integers(0, 4)) == 0:
        text = _with_aliases(text, draw)
    return text


def _with_aliases(text: str, draw: Any) -> str:
    """Prefix an anchored mapping and refer to it: aliases (and merge keys) in odd places."""
    head = "x-anchor: &shared {type: Dense, units: 4}\n"
    lines = text.splitlines()
    at = draw(st.integers(0, len(lines)))
    alias = draw(st.sampled_from(["*shared", "{<<: *shared, name: z}", "*missing", "&dup 1"]))
    lines.insert(at, f"  - {alias}" if draw(st.booleans()) else f"extra: {alias}")
    return head + "\n".join(lines) + "\n"
