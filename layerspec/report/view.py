"""The formatting stage of the report: a collected `Run` -> `RunView`, plain strings and picture URIs.

Computing happened in `collect`; here numbers become text and charts, and nothing is read from disk. Strings
stay raw: escaping is the template's job (jinja2 autoescape), so no string is escaped twice or forgotten.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from layerspec.layers import format_shape
from layerspec.report import figures
from layerspec.report.collect import Picture, Run, class_label, misclassified_picture
from layerspec.report.details import LayerDetail, layer_details, memory_chart, memory_facts
from layerspec.report.svg import SvgError, sanitize_svg
from layerspec.run import History, Summary, TrainInfo
from layerspec.run.models import RegressionScores


@dataclass(frozen=True)
class LayerRow:
    name: str
    type: str
    output_shape: str
    params: str
    params_share: str
    macs: str
    macs_share: str
    trainable: str
    block: str
    arguments: str = ""
    field: str = ""
    memory_share: str = ""


@dataclass(frozen=True)
class EpochRow:
    epoch: int
    cells: list[str]
    kept: bool


@dataclass(frozen=True)
class Miss:
    picture: Picture
    true: str
    predicted: str
    confidence: str
    where: str


@dataclass
class RunView:
    """One run, ready for the templates."""

    name: str
    path: str
    spec_name: str
    description: str
    facts: list[tuple[str, str]]
    commands: list[tuple[str, str]]
    settings: list[tuple[str, str]]
    layers: list[LayerRow]
    totals: list[tuple[str, str]]
    spec_text: str
    diagram: Markup | None
    notes: dict[str, str] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    count_rows: list[tuple[str, list[str]]] = field(default_factory=list)
    count_splits: list[str] = field(default_factory=list)
    samples: list[Picture] = field(default_factory=list)
    trained: bool = False
    charts: dict[str, str] = field(default_factory=dict)
    epoch_header: list[str] = field(default_factory=list)
    has_blocks: bool = False
    epochs: list[EpochRow] = field(default_factory=list)
    kept: str = ""
    evaluated: bool = False
    test_figures: list[tuple[str, str]] = field(default_factory=list)
    per_class: list[list[str]] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    misses_total: int = 0
    memory: list[tuple[str, str]] = field(default_factory=list)
    memory_chart: str | None = None
    exports: list[tuple[str, str]] = field(default_factory=list)  # (format, how to call it)


def integer(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def share(part: Any, total: Any) -> str:
    if not isinstance(part, int) or not isinstance(total, int) or total <= 0:
        return "-"
    return f"{100 * part / total:.1f} %"


def number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def command_line(command: str | list[str] | None) -> str | None:
    if command is None:
        return None
    return command if isinstance(command, str) else shlex.join(command)


def shown_path(path: str | Path) -> str:
    """`path` relative to the working directory when it lies under it (as the user typed it), else as is."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def run_view(run: Run, index: int = 0) -> RunView:
    view = RunView(
        name=run.name,
        path=shown_path(run.path),
        spec_name=run.loaded.spec.name,
        description=run.loaded.spec.description or "",
        facts=_facts(run),
        commands=_commands(run),
        settings=[(str(k), _setting(v)) for k, v in (run.train.settings if run.train else {}).items()],
        layers=_layer_rows(run.summary, layer_details(run.checked)),
        totals=_totals(run.summary),
        spec_text=run.loaded.text,
        diagram=None,
    )
    view.has_blocks = any(row.block for row in view.layers)
    view.memory = memory_facts(run.checked)
    view.memory_chart = memory_chart(run.checked)
    _add_diagram(view, run, f"d{index}")
    _add_data(view, run)
    if run.history is not None and run.history.epochs:
        _add_training(view, run.history)
    if run.metrics is not None:
        _add_evaluation(view, run)
    view.exports = [(info.format, info.snippet) for info in run.exports]
    return view


def _facts(run: Run) -> list[tuple[str, str]]:
    build, train = run.build, run.train
    facts = [("Run folder", shown_path(run.path)), ("Spec sha256", run.spec_sha256)]
    if build is not None and build.spec_sha256 and build.spec_sha256 != run.spec_sha256:
        facts.append(("Warning", f"spec.yaml changed after the build (build.json says {build.spec_sha256})"))
    if build is not None:
        facts += [
            ("Spec file", shown_path(build.spec_path) if build.spec_path else "-"),
            ("Built", build.created or "-"),
        ]
        if build.overrides:
            facts.append(("Overrides", " ".join(f"--set {text}" for text in build.overrides)))
        facts += [(f"{name} version", version) for name, version in build.versions.items()]
    if train is not None:
        facts += [("Seed", "-" if train.seed is None else str(train.seed))]
        facts += _machine_facts(train)
        facts += [("Training started", train.started or "-"), ("Training finished", train.finished or "-")]
    return facts


def _machine_facts(train: TrainInfo) -> list[tuple[str, str]]:
    """Where the figures come from: deterministic training repeats its figures on one kind of CPU only."""
    facts = []
    if train.cpu is not None:
        units = ", ".join(train.cpu.vector_flags) or "no AVX2"
        facts.append(("Trained on", f"{train.cpu.model} ({units}; oneDNN {train.cpu.onednn})"))
    if train.precision is not None:
        facts.append(("Precision", f"{train.precision.chosen} ({train.precision.reason})"))
    return facts


def _commands(run: Run) -> list[tuple[str, str]]:
    pairs = [("build", run.build.command if run.build else None), ("train", run.train.command if run.train else None)]
    return [(label, line) for label, command in pairs if (line := command_line(command))]


def _setting(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_setting(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_setting(v) for v in value)
    return str(value)


def _layer_rows(summary: Summary, details: dict[str, LayerDetail]) -> list[LayerRow]:
    none = LayerDetail("", "", "")
    return [
        LayerRow(
            name=layer.name,
            type=layer.type,
            output_shape=format_shape(tuple(layer.output_shape)),
            params=integer(layer.params),
            params_share=share(layer.params, summary.params),
            macs=integer(layer.macs),
            macs_share=share(layer.macs, summary.macs),
            trainable=_trainable(layer.params, layer.trainable_params),
            block=layer.block or "",
            arguments=details.get(layer.name, none).arguments,
            field=details.get(layer.name, none).field,
            memory_share=details.get(layer.name, none).memory_share,
        )
        for layer in summary.layers
    ]


def _trainable(params: Any, trainable: Any) -> str:
    if not isinstance(params, int) or not isinstance(trainable, int) or params == 0:
        return ""
    if trainable == params:
        return "yes"
    return "no" if trainable == 0 else f"{trainable:,} of {params:,}"


def _totals(summary: Summary) -> list[tuple[str, str]]:
    return [
        ("Total params", integer(summary.params)),
        ("Trainable params", integer(summary.trainable_params)),
        ("Non-trainable params", integer(summary.non_trainable_params)),
        ("MACs per example", integer(summary.macs)),
        ("Layers", integer(len(summary.layers))),
    ]


def _add_diagram(view: RunView, run: Run, prefix: str) -> None:
    if run.diagram_svg is None:
        view.notes["diagram"] = "this run has no model.svg (Graphviz's `dot` was missing when it was built)"
        return
    try:
        view.diagram = Markup(sanitize_svg(run.diagram_svg, prefix))  # safe: rebuilt element by element
    except SvgError as exc:
        view.notes["diagram"] = f"model.svg could not be shown: {exc}"


def _add_data(view: RunView, run: Run) -> None:
    if run.data is None:
        view.notes["data"] = run.data_note or "the dataset is not available"
        return
    data = run.data
    view.class_names = data.class_names
    view.count_splits = list(data.counts)
    view.count_rows = [
        (name, [integer(data.counts[split][i]) for split in view.count_splits])
        for i, name in enumerate(data.class_names)
    ]
    view.count_rows.append(("all", [integer(sum(data.counts[split])) for split in view.count_splits]))
    view.samples = data.samples


def history_series(history: History, label: str, key: str) -> figures.Series:
    epochs = [e.epoch for e in history.epochs]
    train = [getattr(e, key) for e in history.epochs]
    val = [getattr(e, f"val_{key}") for e in history.epochs]
    return figures.Series(label, epochs, train, val, history.kept_epoch)


def _add_training(view: RunView, history: History) -> None:
    view.trained = True
    epochs = [e.epoch for e in history.epochs]
    rates = [e.learning_rate for e in history.epochs]
    charts = {
        "loss": figures.curves_chart("Loss", "loss", [history_series(history, view.name, "loss")]),
        "accuracy": figures.curves_chart("Accuracy", "accuracy", [history_series(history, view.name, "accuracy")]),
        "learning_rate": figures.curves_chart(
            "Learning rate", "learning rate", [figures.Series(view.name, epochs, rates, names=("rate", ""))], True
        ),
        "seconds": figures.bar_chart("Epoch time", "seconds", epochs, [e.seconds for e in history.epochs]),
    }
    view.charts = {name: uri for name, uri in charts.items() if uri is not None}
    extras = sorted({key for e in history.epochs for key in e.extra_figures()})  # top-k accuracies, ...
    view.epoch_header = ["Epoch", "Loss", "Accuracy", "Val loss", "Val accuracy", "Learning rate", "Seconds"]
    view.epoch_header += [key.replace("_", " ").capitalize() for key in extras]
    view.epochs = [
        EpochRow(
            e.epoch,
            [
                number(e.loss),
                percent(e.accuracy, 2),
                number(e.val_loss),
                percent(e.val_accuracy, 2),
                number(e.learning_rate, 3),
                number(e.seconds, 3),
                *(number(e.extra_figures().get(key), 4) for key in extras),
            ],
            e.epoch == history.kept_epoch,
        )
        for e in history.epochs
    ]
    view.kept = _kept(history)


def _kept(history: History) -> str:
    if history.kept_epoch is None:
        return "The history does not say which epoch's weights were kept."
    reason = f": {history.kept_reason}" if history.kept_reason else ""
    return f"The model keeps the weights of epoch {history.kept_epoch}{reason}."


def _add_evaluation(view: RunView, run: Run) -> None:
    metrics = run.metrics
    assert metrics is not None
    view.evaluated = True
    if metrics.regression is not None:
        _add_regression(view, metrics.regression, metrics.test_loss)
        return
    view.test_figures = [("Test accuracy", percent(metrics.test_accuracy, 2)), ("Test loss", number(metrics.test_loss))]
    if metrics.confusion_matrix:
        names = metrics.class_names or [str(i) for i in range(len(metrics.confusion_matrix))]
        view.charts["confusion"] = figures.confusion_chart(metrics.confusion_matrix, names)
    view.per_class = [
        [s.class_, percent(s.precision), percent(s.recall), percent(s.f1), integer(s.support)]
        for s in metrics.per_class
    ]
    view.misses_total = len(metrics.misclassified)
    view.misses = [
        Miss(
            Picture(misclassified_picture(run, m.index), class_label(m.true, metrics.class_names)),
            true=class_label(m.true, metrics.class_names),
            predicted=class_label(m.predicted, metrics.class_names),
            confidence=percent(m.confidence),
            where=Path(m.file).name if m.file else f"test image #{m.index}",
        )
        for m in metrics.misclassified[:48]
    ]


def _add_regression(view: RunView, scores: RegressionScores, loss: float | None) -> None:
    """Error figures and the predicted-vs-true plot, in place of a classifier's accuracy and confusion matrix."""
    view.test_figures = [
        ("Test MAE", number(scores.mae)),
        ("Test RMSE", number(scores.rmse)),
        ("Test R²", number(scores.r2)),
        ("Test MSE", number(scores.mse)),
        ("Test loss", number(loss)),
    ]
    if scores.sample:
        true, predicted = [p.true for p in scores.sample], [p.predicted for p in scores.sample]
        view.charts["predicted_vs_true"] = figures.predicted_vs_true_chart(true, predicted)
