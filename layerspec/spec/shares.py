"""Shared layers: `{share: NAME, name: CALL, inputs: ..., call: ...}` calls layer NAME again, on other inputs.

Keras calls one layer object as often as it is written `layer(x)`; each call has its own output and the weights
exist once. A share entry is expanded here, after blocks, into a copy of NAME's entry (its type and arguments)
with the share's own `name`, `inputs` and `call`, and recorded in `shares` (call name -> layer name): the graph
orders each call after the layer's own entry, the shapes stage counts the weights once (and checks that the call
fits them), and the builder calls the same Keras layer object again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from layerspec.errors import Diagnostic, SpecError
from layerspec.spec.base import Name, StrictModel
from layerspec.spec.yaml_source import SourceMap

if TYPE_CHECKING:
    from layerspec.spec.blocks import Origin

OWN_KEYS = frozenset({"share", "name", "inputs", "call"})  # what a call sets; the rest is the shared layer's


class ShareUse(StrictModel):
    """Another call of a layer written elsewhere in `layers` (its weights are the same, counted once)."""

    share: Name = Field(description="Name of the layer entry to call again (its type and arguments are used).")
    name: Name | None = Field(default=None, description="Name of this call's output; default: NAME_call2, ...")
    inputs: str | list[str] | None = Field(
        default=None, description="What this call reads (`NAME` or `NAME[i]`); default: the previous entry."
    )
    call: dict[str, Any] | None = Field(default=None, description="This call's own call arguments.")


def is_share(entry: Any) -> bool:
    return isinstance(entry, dict) and "share" in entry and "type" not in entry and "block" not in entry


def expand_shares(layers: list[Any], origins: list[Origin], source: SourceMap) -> tuple[list[Any], dict[str, str]]:
    """`layers` with every share entry replaced by a copy of the entry it shares, and call name -> layer name."""
    if not isinstance(layers, list) or not any(is_share(e) for e in layers):
        return layers, {}
    from layerspec.spec.diagnostics import did_you_mean  # it imports the blocks module, which imports this one

    by_name = {
        e["name"]: e for e in layers if isinstance(e, dict) and isinstance(e.get("name"), str) and not is_share(e)
    }
    errors: list[Diagnostic] = []
    shares: dict[str, str] = {}
    calls: dict[str, int] = {}
    out = []
    for entry, origin in zip(layers, origins, strict=True):
        if not is_share(entry):
            out.append(entry)
            continue
        target = entry["share"]
        shared = by_name.get(target) if isinstance(target, str) else None
        extra = sorted(str(k) for k in entry if k not in OWN_KEYS)
        label = f"layers[{origin.use[1]}]" if len(origin.use) > 1 else "a layer entry"
        if shared is None:
            hint = (
                did_you_mean(str(target), sorted(by_name)) or f" (layers with a name: {', '.join(sorted(by_name)[:8])})"
            )
            errors.append(
                source.diagnostic(
                    (*origin.path, "share"),
                    f"{label}: `share: {target!r}` names no layer entry{hint} (a share names an entry that has "
                    "`type:` and `name:`)",
                )
            )
            continue
        if extra:
            errors.append(
                source.diagnostic(
                    (*origin.path, extra[0]),
                    f"{label}: a share entry takes only share, name, inputs and call; received {', '.join(extra)}: "
                    f"the arguments are those of '{target}' (write them there)",
                    key=True,
                )
            )
            continue
        calls[target] = calls.get(target, 1) + 1
        name = entry.get("name") or f"{target}_call{calls[target]}"
        if not isinstance(name, str):
            errors.append(
                source.diagnostic(
                    (*origin.path, "name"),
                    f"{label}: a share's `name` is the name of this call's output, a string; received "
                    f"{type(name).__name__} {name!r}",
                )
            )
            continue
        copy = {k: v for k, v in shared.items() if k not in ("name", "inputs", "call")}
        copy |= {k: entry[k] for k in ("inputs", "call") if entry.get(k) is not None} | {"name": name}
        shares[name] = target
        out.append(copy)
    if errors:
        raise SpecError(errors)
    return out, shares
