"""`layerspec train`, `layerspec evaluate` and `layerspec predict`."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TextIO

import typer

from layerspec.cli.app import app, emit_json, handle_errors, print_error, print_warnings
from layerspec.errors import Diagnostic, escape_text
from layerspec.run import resolve_run
from layerspec.spec.train import MAX_EPOCHS, MAX_SEED

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Dataset folder; overrides the spec's data.dir.", show_default=False),
]


@app.command()
@handle_errors
def train(
    spec_or_run: Annotated[
        Path | None,
        typer.Argument(help="A spec (built first) or a run folder; default: the current run.", show_default=False),
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help=f"Total epochs, 1 to {MAX_EPOCHS} (overrides train.epochs).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help=f"Seed, 0 to {MAX_SEED} (overrides train.seed).")] = None,
    data: DataOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder when training a spec; default runs/<name>/.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the run's last checkpoint.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the run in --out even if it holds training results.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Train a spec or a run folder on its dataset; writes model, history, metrics and checkpoints."""
    from layerspec.rules.runtime import check_overrides
    from layerspec.train import TrainOptions, train_spec_or_run

    check_overrides(epochs, seed)  # with layerspec's own message, before anything is read
    options = TrainOptions(epochs, seed, data, resume, shlex.join(["layerspec", *sys.argv[1:]]))
    display = _Terminal(sys.stderr if json_output else sys.stdout)
    result = train_spec_or_run(spec_or_run, options, display, out=out, overwrite=overwrite)
    if json_output:
        emit_json(result.to_json())
        return
    metrics = result.metrics
    typer.echo(f"kept: {result.kept_reason}")
    if metrics is not None:
        from layerspec.evaluate import headline

        typer.echo(headline(metrics))
    files = "model.keras, history.json, history.csv, metrics.json, train.json"
    typer.echo(f"wrote {escape_text(str(result.run_dir))} ({files})")


@dataclass
class _Terminal:
    """Training's display: epoch lines on `stream` (stderr under --json), a bar when it is a terminal."""

    stream: TextIO

    @property
    def bar(self) -> bool:
        return self.stream.isatty()

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def warn(self, warnings: Iterable[Diagnostic]) -> None:
        print_warnings(warnings)

    def note(self, text: str) -> None:
        print_error(f"layerspec: {text}")


@app.command()
@handle_errors
def evaluate(
    run: Annotated[Path | None, typer.Argument(help="Run folder; default: the current run.")] = None,
    data: DataOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Test loss and accuracy, confusion matrix, per-class precision/recall/F1 and misclassified images."""
    from layerspec.evaluate import evaluate_run, format_metrics

    metrics = evaluate_run(resolve_run(run), data)
    if json_output:
        emit_json(metrics.to_json())
    else:
        typer.echo(format_metrics(metrics), nl=False)


@app.command()
@handle_errors
def predict(
    run: Annotated[Path, typer.Argument(help="Run folder with a trained model.keras.", show_default=False)],
    images: Annotated[list[Path], typer.Argument(help="JPEG/PNG image files.", show_default=False)],
    json_output: JsonOpt = False,
) -> None:
    """Class and probabilities for each image, resized and scaled as the spec's data section says."""
    from layerspec.evaluate import predict_files

    predictions = predict_files(resolve_run(run), images)
    if json_output:
        emit_json([p.to_json() for p in predictions])
        return
    for p in predictions:
        probabilities = " ".join(f"{escape_text(name)}:{value:.3f}" for name, value in p.probabilities.items())
        typer.echo(f"{escape_text(p.file)}: {escape_text(p.class_name)} ({p.confidence:.1%})  {probabilities}")
