"""`layerspec check` and `layerspec schema`: the static stage, never importing TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from layerspec.check import check_file
from layerspec.cli.app import app, emit_json, handle_errors, print_warnings
from layerspec.spec.yaml_source import collection_paused
from layerspec.summary_table import render_summary

SpecArg = Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


@app.command()
@handle_errors
def check(spec: SpecArg, json_output: JsonOpt = False) -> None:
    """Validate SPEC and print every layer's output shape, parameters and MACs."""
    with collection_paused():  # the table of a large spec too (see collection_paused)
        checked = check_file(spec)
        print_warnings(checked.warnings)
        if json_output:
            emit_json(checked.summary.to_json())
        else:
            typer.echo(render_summary(checked.summary), nl=False)


@app.command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors and the YAML language server)."""
    from layerspec.spec.models import Spec

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Spec.model_json_schema(by_alias=True)}
    typer.echo(json.dumps(schema, indent=2))
