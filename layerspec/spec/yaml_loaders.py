"""The two YAML loaders layerspec composes documents with, sharing one YAML 1.2 core-schema resolver: PyYAML's
pure-Python parser and, where PyYAML was built with it, libyaml's C parser (see layerspec/spec/yaml_source.py)."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)


class _CoreResolver(yaml.resolver.BaseResolver):
    """YAML 1.2 core-schema resolution of plain scalars (PyYAML implements YAML 1.1)."""

    def __init__(self) -> None:
        super().__init__()
        # The tag of a plain scalar depends only on its text (no path resolvers are added), and a document repeats
        # a few texts (`ReLU`, `inputs`, `3`) over and over: each text is matched against the patterns once.
        self._scalar_tags: dict[str, str] = {}

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call, no-any-return]
        if kind is yaml.MappingNode:
            return self.DEFAULT_MAPPING_TAG
        if kind is not yaml.ScalarNode or not implicit[0]:
            return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call, no-any-return]
        tag = self._scalar_tags.get(value)
        if tag is None:
            tag = self._scalar_tags[value] = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return tag


for _tag, _regexp, _first in (
    ("null", _NULL, [*"~nN", ""]),
    ("bool", BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+0123456789.")),
):
    _CoreResolver.add_implicit_resolver(f"{TAG}{_tag}", _regexp, _first)


class PureLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _CoreResolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)


def c_loader() -> type | None:
    """libyaml's parser and composer with the same resolver, or None where PyYAML was built without libyaml."""
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    from yaml._yaml import CParser  # what yaml.cyaml re-exports; typed there as an Any

    class _CLoader(CParser, _CoreResolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _CoreResolver.__init__(self)

    return _CLoader


@contextmanager
def collection_paused(*, resume: bool = True) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a spec is read and checked.

    Reading a large spec makes hundreds of thousands of small objects that stay alive until the check ends; the
    collector would walk all of them again and again as they pile up, which took about as long as the check itself
    on a 60,000-layer spec. They hold no reference cycles worth collecting early (reference counting frees them),
    and the input is bounded (MAX_FILE_BYTES, MAX_NODES), so nothing grows without limit meanwhile.

    `resume=False` leaves the collector paused: for a process that ends right after (`layerspec check` run as a
    command), where resuming would only make the collector walk, once, everything the check made (a sixth of a
    second on a 60,000-layer spec) just before the exit frees it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled and resume:
            gc.enable()
