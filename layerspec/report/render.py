"""Render the report's HTML with jinja2 (autoescape on: every string from a spec, data or error is escaped)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import jinja2

from layerspec import __version__
from layerspec.report.collect import Run
from layerspec.report.compare import compare_runs
from layerspec.report.view import run_view

# Nothing may be fetched: no scripts, fonts, frames or connections; images only from data: URIs, styles inline.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src 'none'; script-src 'none'; "
    "connect-src 'none'; frame-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("layerspec.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def timestamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")


def render_html(runs: list[Run], now: datetime | None = None) -> str:
    """One self-contained page: a single run's report, or several runs side by side."""
    views = [run_view(run, index) for index, run in enumerate(runs)]
    common = {"csp": CSP, "version": __version__, "generated": timestamp(now)}
    if len(runs) == 1:
        view = views[0]
        show_data = bool(view.count_rows) or view.trained
        template = environment().get_template("report.html.j2")
        return template.render(run=view, title=view.spec_name, show_data=show_data, **common)
    title = " vs ".join(v.name for v in views)
    template = environment().get_template("compare.html.j2")
    return template.render(runs=views, comparison=compare_runs(runs), title=title, **common)
