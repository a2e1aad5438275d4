"""`layerspec sweep`: a hyper-parameter search on Optuna, each trial a run folder."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from layerspec.cli.app import app, emit_json, handle_errors, print_warnings
from layerspec.cli.setopt import SetOpt, overrides
from layerspec.cli.train import _Terminal
from layerspec.errors import escape_text
from layerspec.spec.train import MAX_EPOCHS

SpaceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--space",
        metavar="KEY=DIST",
        help="A searched value (repeatable): a --set key and choice:a,b,c, uniform:LO:HI, log_uniform:LO:HI or "
        "int:LO:HI; adds to the spec's `search:` section.",
        show_default=False,
    ),
]


@app.command()
@handle_errors
def sweep(
    spec: Annotated[Path, typer.Argument(help="The model spec (YAML).", show_default=False)],
    space: SpaceOpt = None,
    trials: Annotated[int, typer.Option("--trials", min=1, max=100_000, help="Trials this process runs.")] = 10,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage: a database URL (sqlite:///FILE, postgresql://...) or journal:FILE; "
            "default: a SQLite file in the sweep folder.",
            show_default=False,
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name; default: the spec's name.", show_default=False)
    ] = None,
    objective: Annotated[
        str, typer.Option("--objective", help="Validation figure to optimise (val_loss, val_accuracy, ...).")
    ] = "val_loss",
    out: Annotated[
        Path | None, typer.Option("--out", help="Sweep folder; default sweeps/<name>/.", show_default=False)
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset folder; overrides data.dir.", show_default=False)
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, max=MAX_EPOCHS, help="Epochs of every trial (overrides train.epochs)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the study's trials and best as JSON.")] = False,
    set_: SetOpt = None,
) -> None:
    """Search hyper-parameters of SPEC with Optuna: each trial trains SPEC with its values into a run folder;
    processes given the same --storage and --study share one search."""
    from layerspec.check import check_loaded, load_reporting_all
    from layerspec.sweep.run import SweepOptions
    from layerspec.sweep.run import sweep as run_sweep

    fixed = overrides(set_)
    loaded = load_reporting_all(spec, fixed)
    print_warnings(check_loaded(loaded).warnings)
    options = SweepOptions(spec, tuple(space or ()), fixed, trials, storage, study, objective, out, data, epochs)
    display = _Terminal(sys.stderr if json_output else sys.stdout)
    result = run_sweep(options, loaded, display, shlex.join(["layerspec", *sys.argv[1:]]))
    if json_output:
        emit_json(result.to_json())
        return
    counts: dict[str, int] = {}
    for trial in result.trials:
        counts[trial.state] = counts.get(trial.state, 0) + 1
    states = ", ".join(f"{n} {state.lower()}" for state, n in sorted(counts.items()))
    typer.echo(f"study {escape_text(result.study)}: {len(result.trials)} trials ({states})")
    if result.best is not None:
        best = result.best
        typer.echo(f"best: trial {best.number}, {result.objective} {best.value:.4f}, {best.params}")
        typer.echo(f"      {escape_text(str(best.run_dir))}")
