"""`layerspec import`: a saved Keras model's architecture as a spec (its config read as data, never loaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from layerspec import artifacts
from layerspec.cli.app import command, emit_json, handle_errors, print_error
from layerspec.errors import UsageError, escape_text

ModelArg = Annotated[Path, typer.Argument(metavar="MODEL", help="The Keras model file (.keras).", show_default=False)]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="The spec file to write; default: print it.", show_default=False)
]
BlocksOpt = Annotated[
    bool,
    typer.Option(
        "--blocks",
        help="Fold repeated sub-graphs into parameterised `blocks:` (best effort; proven to expand to the same "
        "layers, else the spec is written unfolded).",
    ),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace the file at --out if there is one.")]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help='Print {"spec": PATH or null, "name", "layers", "inputs", "outputs", "notes", "text", "blocks"}.',
    ),
]


@command("import")
@handle_errors
def import_model(
    model: ModelArg,
    out: OutOpt = None,
    blocks: BlocksOpt = False,
    overwrite: OverwriteOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Write the spec of MODEL's architecture: Keras's own layers only; nothing in the file is run or loaded."""
    from layerspec.keras_import import import_model as run_import

    if not model.is_file():
        raise UsageError(f"{model} is not a file: give a model saved with `model.save('NAME.keras')`")
    if out is not None and out.exists() and not overwrite:
        raise UsageError(f"{out} exists: pass --overwrite to replace it, or --out another file")
    imported = run_import(model)
    for note in imported.notes:  # a node written as another layer that computes the same
        typer.echo(f"{escape_text(str(model))}: note: {escape_text(note)}", err=True)
    text, uses = imported.text, None
    if blocks:
        from layerspec.keras_import_blocks import fold_spec

        folding = fold_spec(imported.text, model)
        text, uses = folding.text, folding.folded.uses if folding.folded is not None else 0
        print_error(f"layerspec: {folding.message}")
    if out is not None:
        artifacts.write_text(out, text)
    if json_output:
        emit_json(
            {
                "spec": None if out is None else str(out),
                "name": imported.name,
                "layers": imported.layers,
                "inputs": imported.inputs,
                "outputs": imported.outputs,
                "notes": imported.notes,
                "text": text,
                "blocks": uses,  # block uses written; null without --blocks
            }
        )
    elif out is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"wrote {escape_text(str(out))} ({imported.layers} layers)")
