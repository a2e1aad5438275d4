"""`layerspec check` and `layerspec schema`: the static stage, never importing TensorFlow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from layerspec.check import check_file, memory_of
from layerspec.cli.app import command, emit_json, ends_process, handle_errors, keep_until_exit, print_warnings
from layerspec.cli.setopt import SetOpt, overrides
from layerspec.errors import UsageError
from layerspec.memory import MemoryEstimate, format_bytes
from layerspec.spec.yaml_loaders import collection_paused
from layerspec.summary_table import render_summary

SpecArg = Annotated[Path, typer.Argument(metavar="SPEC", help="The model spec (YAML).", show_default=False)]
JsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON object instead of the table: {name, params, trainable_params, non_trainable_params, "
        "macs, inputs: [{name, shape}], outputs: [{name, shape}], layers: [{name, type, inputs, output_shape, "
        "output_shapes, params, trainable_params, macs, receptive_field, effective_stride}], memory: {...}}.",
    ),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size", metavar="N", help="Batch size of the memory estimate; default: the spec's train.batch_size."
    ),
]


@command()
@handle_errors
def check(spec: SpecArg, json_output: JsonOpt = False, batch_size: BatchOpt = None, set_: SetOpt = None) -> None:
    """Validate SPEC and print every layer's output shape, parameters, MACs and receptive field, and the memory
    a training step needs."""
    if batch_size is not None and not 1 <= batch_size <= 2**20:
        raise UsageError(f"--batch-size: received {batch_size}, expected a whole number from 1 to 1048576")
    # The table of a large spec too (see collection_paused); a command process exits right after it.
    with collection_paused(resume=not ends_process()):
        checked = check_file(spec, overrides(set_))
        print_warnings(checked.warnings)
        memory = memory_of(checked, batch_size)
        if json_output:
            emit_json({**checked.summary.to_json(), "memory": memory.to_json()})
        else:
            typer.echo(render_summary(checked.summary), nl=False)
            typer.echo(memory_line(memory))
        if ends_process():
            keep_until_exit(checked, memory)


def memory_line(memory: MemoryEstimate) -> str:
    """The totals of the memory estimate, in one line under the table."""
    parts = [
        f"weights {format_bytes(memory.parameter_bytes)}",
        f"gradients {format_bytes(memory.gradient_bytes)}",
        f"{memory.optimizer} state {format_bytes(memory.optimizer_bytes)}",
    ]
    if memory.ema_bytes:
        parts.append(f"EMA {format_bytes(memory.ema_bytes)}")
    if memory.cast_bytes:
        parts.append(f"{memory.compute_dtype} weights {format_bytes(memory.cast_bytes)}")
    peak = f" (peak: {memory.peak_at})" if memory.peak_at else ""
    parts.append(f"activations {format_bytes(memory.activation_bytes)}{peak}")
    head = f" Training memory (batch {memory.batch_size}, {memory.compute_dtype}): {format_bytes(memory.total_bytes)}"
    return f"{head} = " + " + ".join(parts)


@command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors and the YAML language server)."""
    from layerspec.spec.models import Spec

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **Spec.model_json_schema(by_alias=True)}
    typer.echo(json.dumps(schema, indent=2))
