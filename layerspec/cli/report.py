"""`layerspec report`: one self-contained HTML page per run, or several runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layerspec.cli.app import command, emit_json, handle_errors
from layerspec.errors import escape_text

RunsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="[RUN]...", help="Run folders; none: the current run. Two or more are compared.", show_default=False
    ),
]
OutOpt = Annotated[
    Path | None, typer.Option("--out", metavar="FILE", help="The HTML file to write; default reports/<run>.html.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help='Print {"report": PATH} instead of a sentence.')]


@command()
@handle_errors
def report(runs: RunsArg = None, out: OutOpt = None, json_output: JsonOpt = False) -> None:
    """Write one self-contained HTML report of a run (header, data, architecture, training, evaluation), or of a
    sweep folder (its trials, the objective against each value, the best trial's report linked)."""
    from layerspec.report import make_report
    from layerspec.run import current_run
    from layerspec.sweep.report import is_sweep, make_sweep_report

    if runs is not None and len(runs) == 1 and is_sweep(runs[0]):
        path = make_sweep_report(runs[0], out)
    else:
        path = make_report(runs or [current_run()], out)
    if json_output:
        emit_json({"report": str(path)})
    else:
        typer.echo(f"wrote {escape_text(str(path))}")
