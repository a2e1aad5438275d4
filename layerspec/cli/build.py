"""`layerspec build`: compile a spec into a Keras model, prove it, and write its run folder."""

from __future__ import annotations

import enum
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from layerspec.cli.app import command, emit_json, handle_errors, print_error, print_warnings
from layerspec.cli.setopt import SetOpt, overrides
from layerspec.errors import escape_text
from layerspec.summary_table import render_summary

SpecArg = Annotated[Path, typer.Argument(metavar="SPEC", help="The model spec (YAML).", show_default=False)]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="DIR", help="Run folder to write; default runs/<model name>/.", show_default=False),
]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object instead of the table: {run_dir, model, summary, summary_json, spec, build, dot, "
        "svg, png, params} (paths; null for a file not written).",
    ),
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace the run in --out even if it holds training results.")
]


class RankDir(enum.StrEnum):
    TB = "TB"
    LR = "LR"


RankDirOpt = Annotated[
    RankDir,
    typer.Option("--rankdir", metavar="TB|LR", help="Diagram direction: TB (top to bottom) or LR (left to right)."),
]


@command()
@handle_errors
def build(
    spec: SpecArg,
    out: OutOpt = None,
    json_output: JsonOpt = False,
    rankdir: RankDirOpt = RankDir.TB,
    overwrite: OverwriteOpt = False,
    set_: SetOpt = None,
) -> None:
    """Check SPEC, compile it into a Keras model, cross-check it and write the run folder (model, summary,
    diagram); the folder becomes the current run."""
    # Imported here so that `layerspec check` starts without TensorFlow or Graphviz.
    from layerspec.build import build as build_run
    from layerspec.check import load_reporting_all
    from layerspec.diagram import INSTALL_HINT

    line = shlex.join(["layerspec", *sys.argv[1:]])
    loaded = load_reporting_all(spec, overrides(set_))
    result = build_run(loaded, out, rankdir=rankdir.value, command=line, overwrite=overwrite)
    print_warnings(result.checked.warnings)
    if result.note:
        print_error(f"layerspec: {result.note}")
    if result.graphviz_missing:
        print_error(f"layerspec: warning: {INSTALL_HINT}")
    if json_output:
        emit_json(result.to_json())
        return
    typer.echo(render_summary(result.checked.summary, shares=True), nl=False)
    written = ", ".join(name for name, path in result.files.items() if path is not None)
    run_dir = escape_text(str(result.run_dir))
    typer.echo(f"\nwrote {run_dir}/: {written}")
    typer.echo(f"{run_dir} is now the current run (`layerspec train` uses it)")
