"""Safe YAML loading that remembers where every key and value came from.

PyYAML composes the document into nodes that carry marks; we turn the nodes into plain Python values ourselves
instead of running a constructor, so no tag can ever build a Python object, and so that every value keeps its
line and column for error messages. Scalars follow the YAML 1.2 core schema: only `true`/`false` are booleans
(`off` and `yes` stay strings) and `1e-3` is a float, as a Keras user would read them.

libyaml's C parser composes the nodes when PyYAML was built with it (about 30 times faster on a large spec); it
gives the same nodes and marks. Any document it does not compose cleanly is read again by the pure-Python parser,
whose messages the suite holds, so a bad spec gets the same error either way. The two loaders and their YAML 1.2
resolver are in layerspec/spec/yaml_loaders.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from layerspec.errors import Diagnostic, SpecError
from layerspec.spec.source_map import Mark as Mark  # re-exported, as below
from layerspec.spec.source_map import SourceMap as SourceMap
from layerspec.spec.source_map import SourcePath as SourcePath
from layerspec.spec.spec_file import MAX_FILE_BYTES as MAX_FILE_BYTES  # re-exported
from layerspec.spec.spec_file import read_text as read_text  # re-exported
from layerspec.spec.yaml_errors import yaml_error_diagnostics
from layerspec.spec.yaml_loaders import BOOL, TAG, PureLoader, c_loader, collection_paused

# Values after alias expansion: a "billion laughs" document is measured on the composed (shared) nodes and
# refused before anything is expanded, so time and memory stay flat.
MAX_NODES = 200_000
MAX_DEPTH = 100
MAX_INT_DIGITS = 30


_STR = f"{TAG}str"
_MAP = f"{TAG}map"
_ALLOWED_TAGS = {f"{TAG}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}

_C_LOADER = c_loader()
# Characters the two parsers treat differently, so a text holding one goes to the pure-Python parser (a spec's
# errors and marks must not depend on the parser): libyaml accepts a tab where YAML 1.2 allows one
# (`key:<TAB>value`), skips a byte-order mark inside the text without counting its column, and reads a `?` inside
# a plain value in a flow collection (`{momentum: 0? .9}`) as part of it where PyYAML ends the value there, and
# takes a comment with no space before it after a block scalar's `|` or `>` (all found by
# tests/fuzz/test_yaml_parsers.py). These are rare in a spec, so the slower parser costs little.
_PURE_ONLY = re.compile("[\t\ufeff?]|[|>][-+0-9]*#")


def _compose(text: str, fast: bool = True) -> Node | None:
    """The document's root node. The C parser's errors are not the ones the suite and users know (nor is every
    corner of its acceptance checked), so anything it does not compose cleanly goes to the pure-Python parser."""
    if fast and _C_LOADER is not None and not _PURE_ONLY.search(text):
        try:
            return _load_single(_C_LOADER(text))
        except Exception:  # any failure is reported by the pure-Python parser below
            pass
    return _load_single(PureLoader(text))


def _load_single(loader: Any) -> Node | None:
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def _mark(node: Node) -> Mark:
    start = node.start_mark
    # tuple.__new__ rather than Mark(...): one is made for every key and value, and the NamedTuple's own
    # __new__ is a Python function.
    return tuple.__new__(Mark, (start.line + 1, start.column + 1))


@dataclass
class _Converter:
    source: SourceMap
    errors: list[Diagnostic] = field(default_factory=list)
    # Keys and values converted, counted as _expanded_size counts them; `pruned`: a part was left out (a value
    # under a duplicate key or a refused tag), so the count may fall short of the document's expanded size.
    count: int = 0
    pruned: bool = False
    active: set[int] = field(default_factory=set)
    # Whether the document may hold aliases; without them it is a tree, and no node can contain itself.
    aliases: bool = True

    def error(self, node: Node, message: str) -> None:
        mark = _mark(node)
        self.errors.append(Diagnostic(self.source.filename, mark.line, mark.col, message))

    def convert(self, node: Node, path: SourcePath) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge(node)
        if len(path) > MAX_DEPTH:
            raise _TooDeep(node)
        values = self.source.values
        if path not in values:
            values[path] = _mark(node)
        if node.tag not in _ALLOWED_TAGS:
            self.error(node, f"the YAML tag '{node.tag}' is not allowed: a spec holds plain values only")
            self.pruned = True
            return None
        if type(node) is ScalarNode:  # never `active`: a scalar contains nothing
            return self.scalar(node)
        if not self.aliases:
            return self.collection(node, path)
        if id(node) in self.active:
            self.error(node, "a YAML alias refers to a node that contains it (a recursive structure)")
            return None
        self.active.add(id(node))
        try:
            return self.collection(node, path)
        finally:
            self.active.discard(id(node))

    def collection(self, node: Node, path: SourcePath) -> Any:
        if isinstance(node, SequenceNode):
            if self.aliases:
                return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
            return self.sequence(node, path)
        assert isinstance(node, MappingNode)
        return self.mapping(node, path)

    def sequence(self, node: SequenceNode, path: SourcePath) -> list[Any]:
        """A list without aliases: what `convert` does for a mapping item (a layer entry, in a large spec) written
        out, the limits included, so that such an item costs one call rather than three."""
        result: list[Any] = []
        values = self.source.values
        deep = len(path) + 1 > MAX_DEPTH  # each item's path is one longer
        for i, item in enumerate(node.value):
            child = (*path, i)
            if type(item) is not MappingNode or item.tag != _MAP or deep or self.count >= MAX_NODES:
                result.append(self.convert(item, child))
                continue
            self.count += 1
            if child not in values:
                start = item.start_mark
                values[child] = tuple.__new__(Mark, (start.line + 1, start.column + 1))
            result.append(self.mapping(item, child))
        return result

    def mapping(self, node: MappingNode, path: SourcePath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        keys, values = self.source.keys, self.source.values
        shallow = len(path) < MAX_DEPTH  # a child's path is one longer
        for key_node, value_node in node.value:
            self.count += 1
            if not isinstance(key_node, ScalarNode):
                self.error(key_node, "a mapping key must be a plain name, not a list or mapping")
                self.pruned = True
                continue
            key = str(key_node.value)
            if key in result:  # every key kept is in `result`, and its key's mark in `keys`
                first = keys[(*path, key)].line
                self.error(
                    key_node,
                    f"duplicate key '{key}' (first written on line {first}); "
                    "YAML would silently keep only the last one: remove one of them",
                )
                self.pruned = True
                continue
            child = (*path, key)
            # _mark written out here and below: a large spec has several keys and values per layer.
            start = key_node.start_mark
            keys[child] = tuple.__new__(Mark, (start.line + 1, start.column + 1))
            if type(value_node) is ScalarNode and value_node.tag == _STR and shallow and self.count < MAX_NODES:
                # What `convert` does for the commonest value, a plain string, without the call: a large spec
                # has one per layer at least.
                self.count += 1
                if child not in values:
                    start = value_node.start_mark
                    values[child] = tuple.__new__(Mark, (start.line + 1, start.column + 1))
                result[key] = str(value_node.value)
            else:
                result[key] = self.convert(value_node, child)
        return result

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _STR:  # most values of a spec, so answered first
            return str(node.value)
        tag, text = node.tag.removeprefix(TAG), str(node.value)
        if tag == "null":
            return None
        if tag == "bool":
            if not BOOL.match(text):
                self.error(node, f"'{text}' is not a boolean: write true or false")
            return text.lower() == "true"
        if tag == "int":
            return self.integer(node, text)
        if tag == "float":
            return self.floating(node, text)
        return text

    def integer(self, node: ScalarNode, text: str) -> int | None:
        digits = text.lstrip("+-")
        if len(digits) > MAX_INT_DIGITS:
            self.error(node, f"integer with {len(digits)} digits is far too large for any layer argument")
            return None
        try:
            return int(text, 0) if digits[:2] in ("0o", "0x") else int(text, 10)
        except ValueError:
            self.error(node, f"'{text}' is not an integer")
            return None

    def floating(self, node: ScalarNode, text: str) -> float | None:
        lowered = text.lower()
        if lowered.endswith(".nan"):
            return math.nan
        if lowered.endswith(".inf"):
            return -math.inf if text.startswith("-") else math.inf
        if len(text) > 64:
            self.error(node, "number literal is too long")
            return None
        try:
            return float(text)
        except ValueError:
            self.error(node, f"'{text}' is not a number")
            return None


class _TooLarge(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


class _TooDeep(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


@dataclass(frozen=True)
class ParsedYaml:
    """A document's plain values, where each was written, and the problems that did not stop the reading.

    Such problems (a duplicate key, a forbidden tag, an absurd number) leave a gap in `data` (of a duplicate key
    the first value is kept; a value that cannot be read becomes null), so the schema can still be checked and
    every independent error reported at once.
    """

    data: dict[str, Any]
    source: SourceMap
    errors: list[Diagnostic]


def parse_yaml(text: str, filename: str) -> ParsedYaml:
    """Parse one YAML document; raises SpecError when there is no mapping to go on with."""
    source = SourceMap(filename)
    text = text.removeprefix("\ufeff")
    try:
        with collection_paused():
            root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        raise SpecError(yaml_error_diagnostics(exc, text, filename)) from None
    except yaml.YAMLError as exc:
        raise SpecError.single(filename, f"YAML error: {exc}") from None
    except RecursionError:
        raise SpecError.single(filename, "the YAML is nested too deeply") from None
    if root is None:
        raise SpecError.single(
            filename, "the file is empty: a spec is a YAML mapping with name, input and layers", 1, 1
        )
    with collection_paused():
        # Every alias is written with `*`; text without one has none (a `*` in a string only costs the fast path).
        return _convert_root(root, source, aliases="*" in text)


def _expanded_size(node: Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values `node` becomes once every alias is expanded, computed once per distinct node."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active or isinstance(node, ScalarNode):
        return 1  # a recursive alias is reported by the converter
    active.add(key)
    children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
    size = 1 + sum(_expanded_size(child, memo, active) for child in children)
    active.discard(key)
    memo[key] = size
    return size


def _check_size(root: Node) -> None:
    memo: dict[int, int] = {}
    if _expanded_size(root, memo, set()) <= MAX_NODES:
        return
    # Point at the first top-level value that is too large by itself, else at the document.
    values = [v for _, v in root.value] if isinstance(root, MappingNode) else []
    raise _TooLarge(next((v for v in values if memo.get(id(v), 0) > MAX_NODES), root))


def _converted(root: Node, converter: _Converter, aliases: bool) -> Any:
    """The root's value; raises _TooLarge as `_check_size` would, before any other error.

    Without aliases the document is as large as the converter counts, so the size is measured afterwards and only
    if the count went past the limit or fell short of the document (which spares a pass over a large spec);
    with aliases it is measured first, before anything is expanded.
    """
    if aliases:
        _check_size(root)
    try:
        value = converter.convert(root, ())
    except (_TooLarge, _TooDeep, RecursionError):
        if not aliases:
            _check_size(root)  # a document too large is reported as such, at its largest top-level value
        raise
    if converter.pruned and not aliases:
        _check_size(root)
    return value


def _convert_root(root: Node, source: SourceMap, aliases: bool = True) -> ParsedYaml:
    converter = _Converter(source, aliases=aliases)
    try:
        value = _converted(root, converter, aliases)
    except _TooLarge as exc:
        mark = _mark(exc.node)
        raise SpecError.single(
            source.filename,
            f"the document expands to more than {MAX_NODES:,} values (YAML aliases); write it out plainly",
            mark.line,
            mark.col,
        ) from None
    except (_TooDeep, RecursionError) as exc:
        mark = _mark(exc.node) if isinstance(exc, _TooDeep) else Mark(0, 0)
        raise SpecError.single(
            source.filename, f"the YAML is nested more than {MAX_DEPTH} levels deep", mark.line, mark.col
        ) from None
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else f"a single value ({type(value).__name__})"
        raise SpecError(
            [
                *converter.errors,
                Diagnostic(
                    source.filename,
                    1,
                    1,
                    f"the top level of a spec must be a mapping (name:, input:, layers:), not {kind}",
                ),
            ]
        )
    return ParsedYaml(value, source, converter.errors)


def parse_value(text: str, label: str) -> tuple[Any, list[Diagnostic]]:
    """One YAML scalar or flow collection (`0.01`, `[64, 64, 3]`, `{type: adam}`), read as a spec's values are;
    diagnostics name `label` (the command-line option that gave it)."""
    try:
        loader = PureLoader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError.single(label, f"the value is not a YAML scalar or flow collection: {problem}") from None
    except (yaml.YAMLError, RecursionError):
        raise SpecError.single(label, "the value is not a YAML scalar or flow collection") from None
    if node is None:
        return None, []
    converter = _Converter(SourceMap(label))
    try:
        value = converter.convert(node, ())
    except (_TooLarge, _TooDeep):
        raise SpecError.single(label, "the value is too large or nested too deeply") from None
    return value, [Diagnostic(label, 0, 0, d.message) for d in converter.errors]
