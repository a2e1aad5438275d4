"""The parts of a comparison beyond the layers: the settings side by side, the structural diff against the first
run, and the confusion matrices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerspec.diff import diff_checked
from layerspec.diff_render import change_text
from layerspec.report import figures
from layerspec.report.collect import Run


@dataclass(frozen=True)
class SettingRow:
    key: str
    values: list[str]
    changed: bool


@dataclass(frozen=True)
class StructureDiff:
    """One run against the first: each line `(what, layer, change)`, e.g. ("changed", "conv", "filters: 4 -> 8")."""

    run: str
    against: str
    lines: list[tuple[str, str, str]]


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = "-" if value is None else str(value)


def run_settings(run: Run) -> dict[str, str]:
    """How the run was trained (train.json, with the command line's overrides applied) or, for a run only built,
    the spec's train section; the data section; the training command."""
    spec = run.loaded.spec
    out: dict[str, str] = {}
    if run.train is not None and run.train.settings:
        _flatten("train", run.train.settings, out)
    elif spec.train is not None:
        _flatten("train", spec.train.model_dump(mode="json"), out)
    if spec.data is not None:
        _flatten("data", spec.data.model_dump(mode="json", by_alias=True), out)
    if run.train is not None and run.train.command is not None:
        command = run.train.command
        out["command"] = command if isinstance(command, str) else " ".join(command)
    return out


def setting_rows(runs: list[Run]) -> list[SettingRow]:
    """Every setting of every run, one row each; differing rows first, then the rest in order."""
    settings = [run_settings(r) for r in runs]
    keys = list(dict.fromkeys(k for s in settings for k in s))
    rows = [SettingRow(k, [s.get(k, "-") for s in settings], len({s.get(k, "-") for s in settings}) > 1) for k in keys]
    return [r for r in rows if r.changed] + [r for r in rows if not r.changed]


def structure_diffs(runs: list[Run]) -> list[StructureDiff]:
    first = runs[0]
    out = []
    for run in runs[1:]:
        if first.checked is None or run.checked is None:
            continue
        diff = diff_checked(first.checked, run.checked, first.name, run.name)
        lines = [("added", f"{e.name} ({e.type})", "") for e in diff.added]
        lines += [("removed", f"{e.name} ({e.type})", "") for e in diff.removed]
        lines += [("changed", f"{c.name} ({c.type})", change_text(c)) for c in diff.changed]
        lines += [("added", f"edge {a} -> {b}", "") for a, b in diff.edges_added]
        lines += [("removed", f"edge {a} -> {b}", "") for a, b in diff.edges_removed]
        out.append(StructureDiff(run.name, first.name, lines))
    return out


def confusion_charts(runs: list[Run]) -> list[tuple[str, str]]:
    charts = []
    for run in runs:
        metrics = run.metrics
        if metrics is not None and metrics.confusion_matrix:
            names = metrics.class_names or [str(i) for i in range(len(metrics.confusion_matrix))]
            charts.append((run.name, figures.confusion_chart(metrics.confusion_matrix, names)))
    return charts
