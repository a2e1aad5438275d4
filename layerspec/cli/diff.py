"""`layerspec diff A B`: what changed between two specs or run folders (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layerspec.cli.app import command, emit_json, handle_errors

SideArg = Annotated[Path, typer.Argument(help="A spec file or a run folder.", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the text diff.")]
HtmlOpt = Annotated[
    Path | None, typer.Option("--html", help="Also write an HTML page with both diagrams, differences coloured.")
]


@command()
@handle_errors
def diff(a: SideArg, b: SideArg, json_output: JsonOpt = False, html: HtmlOpt = None) -> None:
    """Compare A and B structurally: layers added, removed and changed, edges, blocks, settings and totals."""
    from layerspec.artifacts import write_text
    from layerspec.diff import diff_paths
    from layerspec.diff_render import render_html, render_text

    result, first, second = diff_paths(a, b)
    if html is not None:
        write_text(html, render_html(result, first, second))
    if json_output:
        emit_json(result.to_json())
    else:
        typer.echo(render_text(result), nl=False)
