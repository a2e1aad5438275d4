"""`layerspec train`, `layerspec evaluate` and `layerspec predict`."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TextIO

import typer

from layerspec.cli.app import command, emit_json, handle_errors, print_error, print_warnings
from layerspec.cli.setopt import SetOpt, overrides
from layerspec.errors import Diagnostic, UsageError, escape_text
from layerspec.spec.train import MAX_EPOCHS, MAX_SEED

SHOWN_WRONG = 20  # misclassified images `evaluate` lists unless --all

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", metavar="DIR", help="Dataset folder; overrides the spec's data.dir.", show_default=False),
]
TRAIN_JSON = (
    "Print one JSON object instead of text (the epoch lines go to stderr): {run_dir, model, history: {epochs: "
    "[{epoch, loss, accuracy, ..., learning_rate, seconds}], kept_epoch, kept_reason}, metrics (as evaluate --json), "
    "epochs, epoch_seconds}."
)


@command()
@handle_errors
def train(
    spec_or_run: Annotated[
        Path | None,
        typer.Argument(
            metavar="[SPEC|RUN]",
            help="A spec (built first) or a run folder; default: the current run.",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", metavar="N", help=f"Total epochs, 1 to {MAX_EPOCHS} (overrides train.epochs)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", metavar="N", help=f"Seed, 0 to {MAX_SEED} (overrides train.seed).")
    ] = None,
    data: DataOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="DIR", help="Run folder when training a spec; default runs/<name>/."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue from the run's last checkpoint, to the number of epochs it was started with (a different "
            "--epochs is refused unless --extend is given).",
        ),
    ] = False,
    extend: Annotated[
        bool,
        typer.Option(
            "--extend",
            help="With --resume and --epochs N: train on to N epochs in all; the schedule is planned anew for N "
            "epochs from the next epoch on (the epochs already trained keep their rates).",
        ),
    ] = False,
    tensorboard: Annotated[
        bool,
        typer.Option(
            "--tensorboard", help="Log to TensorBoard in RUN/tensorboard/ (as train.tensorboard: true in the spec)."
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the run in --out even if it holds training results.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help=TRAIN_JSON)] = False,
    set_: SetOpt = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help="Start this many local worker processes of one multi-worker training (TF_CONFIG on 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train a spec or a run folder on its dataset; writes model, history, metrics and checkpoints."""
    from layerspec.rules.runtime import check_overrides
    from layerspec.train import TrainOptions, train_spec_or_run

    check_overrides(epochs, seed)  # with layerspec's own message, before anything is read
    if extend and not (resume and epochs is not None):
        raise UsageError("--extend goes with --resume and --epochs N (the new total)")
    if workers is not None:
        from layerspec.train.launch import check_multi_worker, launch

        check_multi_worker(spec_or_run, overrides(set_))
        raise typer.Exit(launch(workers, sys.argv[1:], lambda text: print_error(f"layerspec: {text}")))
    line = shlex.join(["layerspec", *sys.argv[1:]])
    options = TrainOptions(epochs, seed, data, resume, line, overrides(set_), extend=extend, tensorboard=tensorboard)
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


EVALUATE_JSON = (
    "Print one JSON object instead of the tables, every misclassified image included: {test_loss, test_accuracy, "
    "test_count, class_names, confusion_matrix (rows: true), per_class: [{class, precision, recall, f1, support}], "
    "misclassified: [{index, file, true, predicted, confidence}]}."
)
RunArg = Annotated[
    Path | None,
    typer.Argument(metavar="[RUN]", help="Run folder; default: the current run.", show_default=False),
]


@command()
@handle_errors
def evaluate(
    run: RunArg = None,
    data: DataOpt = None,
    all_wrong: Annotated[
        bool, typer.Option("--all", help=f"List every misclassified image (default: the first {SHOWN_WRONG}).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help=EVALUATE_JSON)] = False,
) -> None:
    """Test loss and accuracy, confusion matrix, per-class precision/recall/F1 and misclassified images."""
    from layerspec.evaluate import evaluate_run, format_metrics
    from layerspec.run import resolve_run

    metrics = evaluate_run(resolve_run(run), data)
    if json_output:
        emit_json(metrics.to_json())
    else:
        typer.echo(format_metrics(metrics, None if all_wrong else SHOWN_WRONG), nl=False)


PREDICT_JSON = (
    "Print a JSON list instead of text, one object per image in the order given: [{file, class, confidence, "
    "probabilities: {CLASS: P}}]."
)


@command()
@handle_errors
def predict(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="[RUN] IMAGE...",
            help="A run folder with a trained model.keras (default: the current run), then JPEG/PNG/BMP/GIF files.",
            show_default=False,
        ),
    ],
    run: Annotated[
        Path | None,
        typer.Option("--run", metavar="RUN", help="The run folder, when the first path should be read as an image."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help=PREDICT_JSON)] = False,
) -> None:
    """Class and probabilities for each image, resized and scaled as the run's data section says."""
    from layerspec.evaluate import predict_files

    run_dir, images = split_run(paths, run)
    predictions = predict_files(run_dir, images)
    if json_output:
        emit_json([p.to_json() for p in predictions])
        return
    for p in predictions:
        probabilities = " ".join(f"{escape_text(name)}:{value:.3f}" for name, value in p.probabilities.items())
        typer.echo(f"{escape_text(p.file)}: {escape_text(p.class_name)} ({p.confidence:.1%})  {probabilities}")


def split_run(paths: list[Path], run: Path | None) -> tuple[Path, list[Path]]:
    """The run folder and the images of `predict [RUN] IMAGE...`: a first path that is a folder is the run."""
    if run is None and paths and paths[0].is_dir():
        run, paths = paths[0], paths[1:]
    if not paths:
        raise UsageError("no image given: `layerspec predict [RUN] IMAGE...`")
    from layerspec.run import resolve_run  # not at the top: `check` never needs the run folder's models

    return resolve_run(run), paths
