"""The rule registry and what a rule sees.

A rule is a small named function from a `Context` to the diagnostics it finds; it finds nothing when what it
needs is missing (a section the schema refused, shapes that could not be inferred), so `check` can run every
rule on every spec, even one with errors elsewhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from layerspec.errors import Diagnostic
from layerspec.graph import Graph
from layerspec.layers import Shape
from layerspec.shapes import ModelSummary
from layerspec.spec import LoadedSpec
from layerspec.spec.data import DataSpec
from layerspec.spec.train import TrainSpec
from layerspec.spec.yaml_source import SourcePath


@dataclass(frozen=True)
class Context:
    """The spec as far as it validated: a section's defaults when it is absent, None when the schema refused it
    (or, for the graph and shapes, when they could not be inferred)."""

    loaded: LoadedSpec
    data: DataSpec | None
    train: TrainSpec | None
    input_shape: Shape | None = None  # the first input's, which the data feeds
    graph: Graph | None = None
    summary: ModelSummary | None = None

    def error(self, path: SourcePath, message: str) -> Diagnostic:
        return self.loaded.source.diagnostic(path, message)

    def warning(self, path: SourcePath, message: str) -> Diagnostic:
        return dataclasses.replace(self.loaded.source.diagnostic(path, message), severity="warning")

    def written(self, path: SourcePath) -> bool:
        return path in self.loaded.source.values

    def line(self, path: SourcePath) -> int:
        """The line `path` was written on (or its nearest written parent's)."""
        return self.loaded.source.locate(path).line


Rule = Callable[[Context], list[Diagnostic]]
RULES: dict[str, Rule] = {}


def rule(function: Rule) -> Rule:
    """Register a rule under its function's name (the name of its test case, tests/cases/*/rule_NAME.yaml)."""
    RULES[function.__name__] = function
    return function
