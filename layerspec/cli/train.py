"""`layerspec train`, `layerspec evaluate` and `layerspec predict`."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from layerspec.cli.app import app, emit_json, handle_errors, print_error, print_warnings
from layerspec.errors import UsageError, escape_text
from layerspec.run import current_run, resolve_run
from layerspec.run.folder import RUNS_DIR
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
    from layerspec.train import TrainOptions

    check_overrides(epochs, seed)  # with layerspec's own message, before anything is read
    options = TrainOptions(epochs, seed, data, resume, shlex.join(["layerspec", *sys.argv[1:]]))
    progress = sys.stderr if json_output else sys.stdout
    trained = _training_run(spec_or_run, out, options)
    if isinstance(trained, tuple):
        run_dir, run_spec = trained
        result = _train_in_place(run_dir, run_spec, options, progress)
    else:
        result = _build_and_train(trained, out, options, progress, overwrite=overwrite)
    if json_output:
        emit_json(result)
        return
    metrics = result["metrics"]
    typer.echo(f"kept: {result['history']['kept_reason']}")
    if metrics.get("test_accuracy") is not None:
        typer.echo(f"test loss {metrics['test_loss']:.4f}   test accuracy {metrics['test_accuracy']:.2%}")
    files = "model.keras, history.json, history.csv, metrics.json, train.json"
    typer.echo(f"wrote {escape_text(str(result['run_dir']))} ({files})")


def _training_run(spec_or_run: Path | None, out: Path | None, options: Any) -> tuple[Path, Any] | Any:
    """The run folder to train in place and its spec, or the loaded spec that is built first."""
    from layerspec.data import load_run_spec

    if spec_or_run is None or spec_or_run.is_dir():
        if out is not None:
            raise UsageError("--out applies when training a spec file; a run folder is trained in place")
        run_dir = current_run() if spec_or_run is None else resolve_run(spec_or_run)
        return run_dir, load_run_spec(run_dir)
    if not spec_or_run.exists():
        raise UsageError(f"{spec_or_run}: no such spec file or run folder")
    from layerspec.check import load_reporting_all

    loaded = load_reporting_all(spec_or_run)
    if options.resume:
        return (out if out is not None else RUNS_DIR / loaded.spec.name), loaded
    return loaded


def _train_in_place(run_dir: Path, loaded: Any, options: Any, progress: Any) -> Any:
    """Train a run folder; one that holds training results is trained afresh beside it and replaced at the end."""
    from layerspec.run import RunFolder, folder, set_current_run
    from layerspec.run.replace import publish, staged
    from layerspec.train import train_run

    if options.resume or not RunFolder(run_dir).training_results():
        return train_run(run_dir, loaded, options, progress)
    with staged(run_dir) as staging:
        for name in folder.BUILD_FILES:  # the build, without the results it is about to replace
            if (run_dir / name).is_file():  # a plain copy: the hidden folder is complete or discarded as a whole
                shutil.copy2(run_dir / name, staging.file(name))
        result = _train_staged(staging, run_dir, loaded, options, progress, None)
        publish(staging, run_dir)
    set_current_run(run_dir)
    return result


def _build_and_train(loaded: Any, out: Path | None, options: Any, progress: Any, *, overwrite: bool) -> Any:
    """Check the data (bad data fails before anything is built), build the spec, then train it.

    A new run folder is published once built and trained in place, so that an interrupted training can be
    resumed. A run that is replaced (`--overwrite`, or a build-only run of this spec) is built and trained in a
    hidden folder beside it that takes its place only at the end: until then it stays exactly as it was.
    """
    from layerspec.build import compile_checked, write_build
    from layerspec.data import load_dataset
    from layerspec.rules.runtime import check_training_data
    from layerspec.run import set_current_run
    from layerspec.run.replace import choose_target, publish, staged
    from layerspec.train import check_devices, prepare_runtime, train_run, train_settings

    settings = train_settings(loaded, options)
    dataset = load_dataset(loaded, options.data_dir)
    check_training_data(loaded, settings, dataset.counts())
    # Thread pools can only be sized before TensorFlow runs its first op, which building does.
    prepare_runtime(settings)
    if settings.strategy.type == "mirrored" and settings.strategy.devices is not None:
        check_devices(loaded, settings.strategy.devices)  # a device that is not there: refused before building
    target = choose_target(out, loaded.spec.name, loaded.sha256, overwrite=overwrite, spec_path=loaded.path)
    checked, model = compile_checked(loaded)
    print_warnings(checked.warnings)
    if target.note:
        print_error(f"layerspec: {target.note}")
    with staged(target.path) as staging:
        write_build(staging, checked, model, rankdir="TB", command=options.command)
        if not target.path.exists():
            run = publish(staging, target.path)
            set_current_run(run.path)
            return train_run(run.path, checked.loaded, options, progress, dataset)
        result = _train_staged(staging, target.path, checked.loaded, options, progress, dataset)
        publish(staging, target.path)
    set_current_run(target.path)
    return result


def _train_staged(staging: Any, target: Path, loaded: Any, options: Any, progress: Any, dataset: Any) -> Any:
    """Train in the hidden folder; the `--json` payload names the folder it will become."""
    from layerspec.train import Interrupted, train_run

    try:
        result = train_run(staging.path, loaded, options, progress, dataset)
    except (Interrupted, KeyboardInterrupt):  # a stop requested during the epochs, or a signal before them
        raise Interrupted(
            str(target),
            f"stopped before training finished: {target} is exactly as it was; the new run was discarded "
            "(train again to replace it)",
        ) from None
    return {**result, "run_dir": str(target), "model": str(target / "model.keras")}


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
        emit_json(metrics)
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
        emit_json(predictions)
        return
    for p in predictions:
        probabilities = " ".join(f"{escape_text(name)}:{value:.3f}" for name, value in p["probabilities"].items())
        typer.echo(f"{escape_text(p['file'])}: {escape_text(p['class'])} ({p['confidence']:.1%})  {probabilities}")
