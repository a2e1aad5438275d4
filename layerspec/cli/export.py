"""`layerspec export`: a trained run's model as a SavedModel, a LiteRT file or an ONNX graph."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from layerspec.cli.app import command, emit_json, handle_errors
from layerspec.errors import escape_text


class FormatName(enum.StrEnum):
    saved_model = "saved_model"
    litert = "litert"
    onnx = "onnx"


RunArg = Annotated[
    Path | None,
    typer.Argument(metavar="[RUN]", help="The trained run folder; default: the current run.", show_default=False),
]
FormatOpt = Annotated[FormatName, typer.Option("--format", help="saved_model (TF Serving), litert (phones) or onnx.")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Folder to write; default RUN/export/FORMAT.", show_default=False)
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an export already in that folder.")]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print {"path": MODEL, "format": FORMAT, "labels": LABELS_TXT, "folder": DIR, "class_names": [...]}.',
    ),
]


@command()
@handle_errors
def export(
    run: RunArg = None,
    fmt: FormatOpt = FormatName.saved_model,
    out: OutOpt = None,
    overwrite: OverwriteOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Export RUN's trained model; it takes raw pixels (float32, 0-255) and scales them itself."""
    from layerspec.export import export_run
    from layerspec.run import current_run

    result = export_run(run or current_run(), fmt.value, out, overwrite=overwrite)
    if json_output:
        emit_json(result.to_json())
        return
    typer.echo(f"wrote {escape_text(str(result.path))} and {escape_text(str(result.labels))}")
    typer.echo("use it with:")
    for line in result.snippet.splitlines():
        typer.echo(f"    {escape_text(line)}")
