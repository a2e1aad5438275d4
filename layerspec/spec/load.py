"""Load a spec file: YAML with source marks -> block expansion -> pydantic validation."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from layerspec.errors import Diagnostic, SpecError, in_file_order
from layerspec.spec.aliases import canonical_entries
from layerspec.spec.blocks import Origin, expand_blocks
from layerspec.spec.diagnostics import translate_validation_error
from layerspec.spec.models import Spec, spec_model_for
from layerspec.spec.overrides import apply_overrides
from layerspec.spec.partial import partial_spec
from layerspec.spec.shares import expand_shares
from layerspec.spec.yaml_source import SourceMap, parse_yaml, read_text


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with everything needed to point back at its source."""

    spec: Spec
    path: Path
    text: str
    source: SourceMap
    origins: list[Origin]
    overrides: tuple[str, ...] = ()  # the `--set KEY=VALUE` texts applied on top of `text`, in order
    shares: dict[str, str] = field(default_factory=dict)  # a shared layer's other calls: call name -> layer name

    @property
    def filename(self) -> str:
        return str(self.path)

    @property
    def sha256(self) -> str:
        """The spec's identity: its text, and the overrides when there are any (a run of `--set lr=0.1` is not
        the same spec as the file alone)."""
        content = self.text if not self.overrides else "\0".join([self.text, *self.overrides])
        return hashlib.sha256(content.encode("utf-8")).hexdigest()


def load_spec(path: Path, overrides: Sequence[str] = ()) -> LoadedSpec:
    """Read, expand and validate a spec (with `--set` overrides), raising SpecError with every problem found."""
    text = read_text(path)
    return parse_spec(text, path, overrides)


def parse_spec(text: str, path: Path, overrides: Sequence[str] = ()) -> LoadedSpec:
    """Expand and validate spec text; the errors of every stage that could run are reported together."""
    parsed = parse_yaml(text, str(path))
    raw, source = parsed.data, parsed.source
    given = tuple(overrides)
    if given:
        apply_overrides(raw, source, given)
    try:
        layers, origins = expand_blocks(raw, source)
        layers, shares = expand_shares(layers, origins, source)
    except SpecError as exc:
        raise SpecError(merge_diagnostics(parsed.errors, exc.diagnostics)) from None
    layers = canonical_entries(layers)
    # A missing `layers:` stays missing, so the schema says "missing required key" rather than "received null".
    expanded: dict[str, Any] = {**raw, "layers": layers} if "layers" in raw else raw
    try:
        spec = spec_model_for(expanded.get("layers")).model_validate(expanded)
    except ValidationError as exc:
        errors = merge_diagnostics(parsed.errors, translate_validation_error(exc, expanded, source, origins))
        partial = partial_spec(expanded, exc)
        if partial is None:
            raise InvalidSpec(errors) from None
        raise InvalidSpec(
            errors, LoadedSpec(partial.spec, path, text, source, origins, given, shares), partial.refused
        ) from None
    loaded = LoadedSpec(spec, path, text, source, origins, given, shares)
    if parsed.errors:
        raise InvalidSpec(parsed.errors, loaded)
    return loaded


class InvalidSpec(SpecError):
    """Errors the loading found, with the parts of the spec that did validate (`partial`, None if nothing
    did), so that `check` can report the later stages' errors in the same run; `refused`: the top-level keys
    that did not validate."""

    def __init__(
        self, diagnostics: list[Diagnostic], partial: LoadedSpec | None = None, refused: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(diagnostics)
        self.partial = partial
        self.refused = refused


def merge_diagnostics(first: list[Diagnostic], later: list[Diagnostic]) -> list[Diagnostic]:
    """Both lists in file order, without a later complaint about a value the first already reported.

    A value YAML could not read (a forbidden tag, a 5,000-digit integer) is null for the schema, which would
    otherwise add "must be an integer; received null" at the same spot.
    """
    taken = {(d.line, d.col) for d in first}
    kept = first + [d for d in later if (d.line, d.col) not in taken]
    return in_file_order(kept)
