"""Layer names: the name Keras gives an unnamed layer, and every entry's name in a spec, generated as Keras does."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerspec.layers.base import LayerSpec


@functools.cache  # called once per unnamed layer: a 60,000-layer spec has few distinct types
def default_name(type_name: str) -> str:
    """Keras's automatic layer name for a class: Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", type_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


Named = tuple[str, str | None]  # a layer's (type, written name or None)


def layer_names(
    entries: Sequence[Named], taken: set[str], nested: Sequence[Sequence[Named]] | None = None
) -> list[str]:
    """Each (type, name) entry's name: its own, or one generated as Keras does (conv2d, conv2d_1, ...) that
    clashes with no written name and nothing in `taken` (the model inputs).

    `nested[i]` lists the layers entry i wraps, in the order Keras makes them (inside out, before the wrapper):
    an unnamed one takes a generated name first, as `TimeDistributed(Dense(3))` makes a `dense` before
    `time_distributed`, so a later Dense is `dense_1` as in Keras."""
    inner = nested or [()] * len(entries)
    written = [name for _, name in entries] + [name for group in inner for _, name in group]
    used = taken | {name for name in written if name is not None}
    counters: dict[str, int] = {}

    def generate(type_name: str) -> str:
        base = default_name(type_name)
        name = base
        while name in used:
            counters[base] = counters.get(base, 0) + 1
            name = f"{base}_{counters[base]}"
        used.add(name)
        return name

    names = []
    for (type_name, name), group in zip(entries, inner, strict=True):
        for inner_type, inner_name in group:
            if inner_name is None:
                generate(inner_type)
        names.append(name if name is not None else generate(type_name))
    return names


def construction_order(layer: LayerSpec) -> list[Named]:
    """The layers a wrapper holds, inside out, in the order Keras code would make them (before the wrapper)."""
    found: list[Named] = []
    for inner in layer.nested().values():
        found += [*construction_order(inner), (inner.type, inner.name)]
    return found
