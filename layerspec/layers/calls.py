"""Call arguments (`call:` on a layer entry) and references to a layer's outputs (`NAME`, `NAME[i]`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

# A reference to a layer's output: `NAME` (its first output) or `NAME[i]` (its i-th); `[` is never in a name.
REF_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}(\[[0-9]{1,4}\])?$"
_REF = re.compile(r"^(.*)\[([0-9]+)\]$")


def split_ref(ref: str) -> tuple[str, int]:
    """`enc[2]` -> ("enc", 2); `enc` -> ("enc", 0)."""
    if not ref.endswith("]"):  # most references: spared the pattern, which a large spec asks millions of times
        return ref, 0
    match = _REF.match(ref)
    return (match[1], int(match[2])) if match else (ref, 0)


TensorRef = Annotated[str, Field(pattern=REF_PATTERN)]


class CallArgs(BaseModel):
    """Arguments of the layer's `call` (written under `call:`); a type accepts none unless it declares its own.

    Fields listed in `tensor_fields` name layers (`NAME` or `NAME[i]`), whose tensors are passed."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    tensor_fields: ClassVar[tuple[str, ...]] = ()

    def tensor_refs(self) -> dict[str, list[str]]:
        """Each tensor argument that is set, as the list of references it holds."""
        found: dict[str, list[str]] = {}
        for name in self.tensor_fields:
            value = getattr(self, name)
            if value is not None:
                found[name] = [value] if isinstance(value, str) else list(value)
        return found

    def keras_kwargs(self, tensor: Callable[[str], Any]) -> dict[str, Any]:
        """The keyword arguments of the call, each reference replaced by `tensor(reference)`."""
        kwargs = self.model_dump(exclude_unset=True)
        for name, refs in self.tensor_refs().items():
            value = getattr(self, name)
            kwargs[name] = tensor(value) if isinstance(value, str) else [tensor(r) for r in refs]
        return kwargs
