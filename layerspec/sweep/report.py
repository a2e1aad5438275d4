"""`layerspec report SWEEP_DIR`: one self-contained page of a sweep, linking the best trial's own report.

The page is built from sweep.json alone (no Optuna, no TensorFlow); every value from it is escaped.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Any

from layerspec.artifacts import write_text
from layerspec.errors import LayerspecError
from layerspec.report import REPORTS_DIR, make_report
from layerspec.report.figures import _figure, _svg_uri, plain_text
from layerspec.sweep.records import SweepRecord, TrialRecord
from layerspec.sweep.run import read_sweep

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}"
    "tr.best{background:#e6f4e6}img{max-width:100%}.charts img{width:32em}"
)


def is_sweep(path: Path) -> bool:
    from layerspec.sweep.records import SWEEP_FILE

    return (path / SWEEP_FILE).is_file()


def make_sweep_report(sweep_dir: Path, out: Path | None = None) -> Path:
    """Write the sweep's page (and the best trial's report beside it); returns the page's path."""
    record = read_sweep(sweep_dir)
    path = out if out is not None else REPORTS_DIR / f"{sweep_dir.resolve().name}-sweep.html"
    best_link, note = _best_report(sweep_dir, record, path)
    return write_text(path, _page(record, best_link, note))


def trial_dir(sweep_dir: Path, trial: TrialRecord | Any) -> Path | None:
    """A trial's run folder inside the sweep folder (sweep.json's path is relative to where the sweep ran)."""
    return None if trial.run_dir is None else sweep_dir / Path(trial.run_dir).name


def _best_report(sweep_dir: Path, record: SweepRecord, page: Path) -> tuple[str | None, str | None]:
    if record.best is None:
        return None, "no trial has completed yet"
    run = trial_dir(sweep_dir, record.best)
    if run is None or not run.is_dir():
        return None, f"the best trial's run folder ({record.best.run_dir}) is not in {sweep_dir}"
    target = page.parent / f"{page.stem}-best-trial-{record.best.number}.html"
    try:
        made = make_report([run], target)
    except LayerspecError as exc:
        return None, f"the best trial's report could not be made: {exc}"
    return os.path.relpath(made.resolve(), page.parent.resolve()), None


def _page(record: SweepRecord, best_link: str | None, note: str | None) -> str:
    e = html.escape
    keys = sorted({key for trial in record.trials for key in trial.params})
    best = record.best.number if record.best is not None else None
    facts = [
        ("Study", record.study),
        ("Objective", f"{record.objective} ({record.direction})"),
        ("Spec", record.spec_path),
        ("Storage", record.storage),
        ("Trials", str(len(record.trials))),
    ]
    if record.best is not None:
        facts.append(("Best", f"trial {record.best.number}: {record.objective} {record.best.value:.4f}"))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>sweep {e(record.study)}</title>"]
    parts.append(f"<style>{STYLE}</style></head><body><h1>Sweep {e(record.study)}</h1><table>")
    parts += [f"<tr><th>{e(k)}</th><td style='text-align:left'>{e(v)}</td></tr>" for k, v in facts]
    parts.append("</table>")
    if best_link is not None:
        parts.append(f"<p><a href='{e(best_link)}'>Report of the best trial ({best})</a></p>")
    if note is not None:
        parts.append(f"<p>{e(note)}</p>")
    parts.append("<h2>Trials</h2><table><tr><th>trial</th><th>state</th>")
    parts += [f"<th>{e(key)}</th>" for key in keys]
    parts.append(f"<th>{e(record.objective)}</th><th>run folder</th></tr>")
    for trial in record.trials:
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        cells = "".join(f"<td>{e(_shown(trial.params.get(key)))}</td>" for key in keys)
        row = f"<td>{trial.number}</td><td>{e(trial.state.lower())}</td>{cells}<td>{value}</td>"
        mark = " class='best'" if trial.number == best else ""
        parts.append(f"<tr{mark}>{row}<td style='text-align:left'>{e(trial.run_dir or '-')}</td></tr>")
    parts.append("</table><h2>Objective</h2><div class='charts'>")
    parts += [f"<img alt='{e(alt)}' src='{uri}'>" for alt, uri in _charts(record, keys)]
    parts.append("</div></body></html>\n")
    return "".join(parts)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _charts(record: SweepRecord, keys: list[str]) -> list[tuple[str, str]]:
    done = [t for t in record.trials if t.value is not None]
    if not done:
        return []
    charts = [(f"{record.objective} per trial", _per_trial(record, done))]
    charts += [(f"{record.objective} against {key}", _against(record, done, key)) for key in keys]
    return charts


def _per_trial(record: SweepRecord, done: list[TrialRecord]) -> str:
    pick = min if record.direction == "minimize" else max
    values = [float(t.value or 0.0) for t in done]
    best = [pick(values[: i + 1]) for i in range(len(values))]
    with _figure(5.0, 3.0) as figure:
        axes = figure.subplots()
        axes.scatter([t.number for t in done], values, label="trial")
        axes.step([t.number for t in done], best, where="post", color="#2ca02c", label="best so far")
        axes.set_xlabel("trial")
        axes.set_ylabel(plain_text(record.objective))
        axes.legend()
        return _svg_uri(figure)


def _against(record: SweepRecord, done: list[TrialRecord], key: str) -> str:
    pairs = [(t.params[key], float(t.value or 0.0)) for t in done if key in t.params]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x, _ in pairs)
    with _figure(5.0, 3.0) as figure:
        axes = figure.subplots()
        if numeric:
            xs = [float(x) for x, _ in pairs]
            axes.scatter(xs, [v for _, v in pairs])
            if xs and min(xs) > 0 and max(xs) / min(xs) >= 20 and all(math.isfinite(x) for x in xs):
                axes.set_xscale("log")
        else:
            labels = sorted({str(x) for x, _ in pairs})
            axes.scatter([labels.index(str(x)) for x, _ in pairs], [v for _, v in pairs])
            axes.set_xticks(range(len(labels)), [plain_text(label) for label in labels])
        axes.set_xlabel(plain_text(key))
        axes.set_ylabel(plain_text(record.objective))
        return _svg_uri(figure)
