"""Several runs side by side: layers matched by name, parameter and MAC differences, metrics, shared curves."""

from __future__ import annotations

from dataclasses import dataclass, field

from layerspec.report import figures
from layerspec.report.collect import Run
from layerspec.report.compare_settings import (
    SettingRow,
    StructureDiff,
    confusion_charts,
    setting_rows,
    structure_diffs,
)
from layerspec.report.view import history_series, integer, number, percent
from layerspec.run import Summary


@dataclass(frozen=True)
class DiffCell:
    value: str
    delta: str


@dataclass(frozen=True)
class DiffRow:
    """One layer name across the runs: per run its type, params and MACs, and the change against the first run."""

    name: str
    types: list[str]
    params: list[DiffCell]
    macs: list[DiffCell]
    changed: bool


@dataclass(frozen=True)
class Comparison:
    runs: list[str]
    metrics_header: list[str]
    metrics: list[list[str]]
    layers: list[DiffRow]
    charts: dict[str, str]
    settings: list[SettingRow] = field(default_factory=list)
    structure: list[StructureDiff] = field(default_factory=list)
    confusion: list[tuple[str, str]] = field(default_factory=list)


def merged_names(runs: list[list[str]]) -> list[str]:
    """Every layer name of every run once, each run's order kept: a layer that only a later run has goes just
    before the next layer that run shares with the earlier ones (or at the end)."""
    merged: list[str] = []
    for names in runs:
        known = set(merged)
        pending: list[str] = []
        for name in names:
            if name not in known:
                pending.append(name)
                continue
            at = merged.index(name)
            merged[at:at] = pending
            pending = []
        merged.extend(pending)
    return merged


def delta(value: int | None, base: int | None) -> str:
    if value is None or base is None or value == base:
        return ""
    return f"{value - base:+,}"


@dataclass(frozen=True)
class _Figures:
    """What a row compares of one run: a layer, or the model's totals (type "")."""

    type: str
    params: int
    macs: int


def layer_rows(summaries: list[Summary]) -> list[DiffRow]:
    by_name = [{layer.name: _Figures(layer.type, layer.params, layer.macs) for layer in s.layers} for s in summaries]
    names = merged_names([list(layers) for layers in by_name])
    rows = [_row(name, [layers.get(name) for layers in by_name]) for name in names]
    totals: list[_Figures | None] = [_Figures("", s.params, s.macs) for s in summaries]
    return [*rows, _row("total", totals)]


def _row(name: str, layers: list[_Figures | None]) -> DiffRow:
    cells: dict[str, list[DiffCell]] = {}
    for key in ("params", "macs"):
        values: list[int | None] = [None if layer is None else getattr(layer, key) for layer in layers]
        cells[key] = [DiffCell(integer(v) if v is not None else "absent", delta(v, values[0])) for v in values]
    types = [layer.type if layer is not None else "absent" for layer in layers]
    changed = len(set(types)) > 1 or any(c.delta or c.value == "absent" for c in cells["params"] + cells["macs"])
    return DiffRow(name, types, cells["params"], cells["macs"], changed)


def _metrics_row(run: Run) -> list[str]:
    history, metrics = run.history, run.metrics
    epochs = history.epochs if history is not None else []
    val = [e.val_accuracy for e in epochs if e.val_accuracy is not None]
    seconds = [e.seconds for e in epochs if e.seconds is not None]
    return [
        run.name,
        run.loaded.spec.name,
        integer(run.summary.params),
        integer(run.summary.macs),
        integer(len(epochs)) if epochs else "-",
        percent(max(val), 2) if val else "-",
        str(history.kept_epoch) if history is not None and history.kept_epoch is not None else "-",
        number(sum(seconds), 3) if seconds else "-",
        percent(metrics.test_accuracy, 2) if metrics is not None else "-",
        number(metrics.test_loss) if metrics is not None else "-",
    ]


METRICS_HEADER = [
    "Run", "Model", "Params", "MACs", "Epochs", "Best val accuracy", "Kept epoch", "Train seconds",
    "Test accuracy", "Test loss",
]  # fmt: skip


def compare_runs(runs: list[Run]) -> Comparison:
    trained = [r for r in runs if r.history is not None and r.history.epochs]
    charts: dict[str, str | None] = {}
    for key, title in (("loss", "Loss"), ("accuracy", "Accuracy")):
        series = [history_series(r.history, r.name, key) for r in trained if r.history is not None]
        charts[key] = figures.curves_chart(title, key, series) if series else None
    return Comparison(
        runs=[r.name for r in runs],
        metrics_header=METRICS_HEADER,
        metrics=[_metrics_row(r) for r in runs],
        # Only the layers that differ: the structural diff says how, and an unchanged row says nothing.
        layers=[row for row in layer_rows([r.summary for r in runs]) if row.changed or row.name == "total"],
        charts={k: v for k, v in charts.items() if v is not None},
        settings=setting_rows(runs),
        structure=structure_diffs(runs),
        confusion=confusion_charts(runs),
    )
