"""`layerspec diff`'s text (in the style of `git diff --stat`, then the totals) and its HTML page (both diagrams,
the differences coloured). Every name and value in the page goes through html.escape."""

from __future__ import annotations

import html
import json
from typing import Any

from layerspec.check import Checked
from layerspec.diagram import dot_available, model_graph, render
from layerspec.diff import LayerChange, SpecDiff
from layerspec.layer_args import describe
from layerspec.memory import format_bytes

ADDED, REMOVED, CHANGED, SAME = "#8ce99a", "#ffa8a8", "#ffd43b", "#f1f3f5"


def value_text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def change_text(change: LayerChange) -> str:
    parts = [f"{k}: {value_text(a)} -> {value_text(b)}" for k, (a, b) in change.fields.items()]
    parts += [f"{k}: {value_text(a)} -> {value_text(b)}" for k, (a, b) in change.figures.items()]
    return "; ".join(parts)


def render_text(diff: SpecDiff) -> str:
    rows = [(f"{e.name} ({e.type})", "+ added") for e in diff.added]
    rows += [(f"{e.name} ({e.type})", "- removed") for e in diff.removed]
    rows += [(f"{c.name} ({c.type})", f"~ {change_text(c)}") for c in diff.changed]
    rows += [(f"edge {a} -> {b}", "+ added") for a, b in diff.edges_added]
    rows += [(f"edge {a} -> {b}", "- removed") for a, b in diff.edges_removed]
    rows += [(f"block {name}", f"{sign} {what}") for what, sign in _BLOCK_SIGNS for name in diff.blocks[what]]
    rows += [(key, f"~ {value_text(a)} -> {value_text(b)}") for key, (a, b) in diff.settings.items()]
    width = max((len(name) for name, _ in rows), default=0)
    out = [f"--- {diff.a}", f"+++ {diff.b}"]
    out += [f" {name.ljust(width)} | {text}" for name, text in rows]
    out.append(
        f" {len(diff.changed)} layers changed, {len(diff.added)} added, {len(diff.removed)} removed; "
        f"{len(diff.edges_added)} edges added, {len(diff.edges_removed)} removed; "
        f"{len(diff.settings)} settings changed"
        + ("" if not diff.identical else " (the models and settings are the same)")
    )
    out += ["", *_totals_table(diff)]
    return "\n".join(out) + "\n"


_BLOCK_SIGNS = (("added", "+"), ("removed", "-"), ("changed", "~"))


def _totals_table(diff: SpecDiff) -> list[str]:
    rows = [["Total", "A", "B", "Change"]]
    for key, (a, b) in diff.totals.items():
        if key == "memory_bytes":
            change = "" if a is None or b is None or a == b else f"{(b - a) / 2**20:+,.1f} MiB"
            rows.append(["training memory", format_bytes(a), format_bytes(b), change])
        else:
            rows.append([key.replace("_", " "), f"{a:,}", f"{b:,}", "" if a == b else f"{b - a:+,}"])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return [
        " "
        + "   ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    ]


def render_html(diff: SpecDiff, first: Checked, second: Checked) -> str:
    """A page with both diagrams (added green, removed red, changed yellow) and the text diff as tables."""
    changed = {c.name for c in diff.changed}
    removed = {e.name for e in diff.removed}
    added = {e.name for e in diff.added}
    fills_a = {n: REMOVED if n in removed else CHANGED if n in changed else SAME for n in diff.order[0]}
    fills_b = {n: ADDED if n in added else CHANGED if n in changed else SAME for n in diff.order[1]}
    pictures = [_diagram(first, fills_a), _diagram(second, fills_b)]
    rows = "".join(_html_row(c) for c in diff.changed)
    rows += "".join(_html_simple(f"{e.name} ({e.type})", "added", "added") for e in diff.added)
    rows += "".join(_html_simple(f"{e.name} ({e.type})", "removed", "removed") for e in diff.removed)
    settings = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(value_text(a))}</td><td class='changed'>{_e(value_text(b))}</td></tr>"
        for k, (a, b) in diff.settings.items()
    )
    totals = _e("\n".join(_totals_table(diff)))
    figures = "".join(
        f"<figure><figcaption>{_e(name)}</figcaption>{picture}</figure>"
        for name, picture in zip((diff.a, diff.b), pictures, strict=True)
    )
    return _PAGE.format(
        title=_e(f"{diff.a} vs {diff.b}"),
        layers=rows or "<tr><td colspan='2'>no layer changed</td></tr>",
        settings=settings or "<tr><td colspan='3'>the settings are the same</td></tr>",
        totals=totals,
        figures=figures,
    )


def _diagram(checked: Checked, fills: dict[str, str]) -> str:
    if not dot_available():
        return "<p>Graphviz's <code>dot</code> was not found: no diagram.</p>"
    notes = {n.name: describe(n.layer) for n in checked.graph.nodes if n.layer is not None}
    svg = render(model_graph(checked.summary, notes=notes, fills=fills), "svg").decode("utf-8")
    return svg[svg.index("<svg") :]  # without the XML prologue and DOCTYPE


def _html_row(change: LayerChange) -> str:
    return f"<tr><td>{_e(f'{change.name} ({change.type})')}</td><td class='changed'>{_e(change_text(change))}</td></tr>"


def _html_simple(name: str, text: str, css: str) -> str:
    return f"<tr><td>{_e(name)}</td><td class='{css}'>{_e(text)}</td></tr>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5em; max-width: 1400px; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }} td {{ border: 1px solid #dee2e6; padding: 3px 8px; }}
.added {{ background: #d3f9d8; }} .removed {{ background: #ffe3e3; }} .changed {{ background: #fff3bf; }}
.diagrams {{ display: flex; gap: 1em; align-items: flex-start; }}
figure {{ flex: 1; margin: 0; overflow: auto; }} figure svg {{ max-width: 100%; height: auto; }}
pre {{ font-size: 12px; }}
</style></head><body>
<h1>{title}</h1>
<h2>Layers</h2><table>{layers}</table>
<h2>Settings</h2><table>{settings}</table>
<h2>Totals</h2><pre>{totals}</pre>
<h2>Diagrams</h2>
<p><span class="removed">removed</span> <span class="added">added</span> <span class="changed">changed</span></p>
<div class="diagrams">{figures}</div>
</body></html>
"""
