"""Rules across fields and sections that need only the spec, each a small named function.

`layerspec check` runs every rule registered here (after the schema, the graph and the shapes), and `build` and
`train` run `check` first, so they never refuse a spec that `check` passed. The few rules that need the data's
size or the command line live in `layerspec.rules.runtime`, applied before anything is built or trained.
"""

from __future__ import annotations

from layerspec.errors import Diagnostic
from layerspec.rules import attention, kernels, losses, model, settings, statistics  # noqa: F401  (imported for their @rule side effect)
from layerspec.rules.base import RULES, Context, Rule, rule

__all__ = ["RULES", "Context", "Rule", "rule", "run_rules"]


def run_rules(ctx: Context) -> list[Diagnostic]:
    """Every registered rule's diagnostics (errors and warnings)."""
    return [diagnostic for check in RULES.values() for diagnostic in check(ctx)]
