"""The report's charts, drawn with matplotlib into SVG `data:` URIs.

No pyplot and no global backend: each chart is a `matplotlib.figure.Figure` saved straight to SVG, so report
generation never touches the user's matplotlib state. Text is drawn as paths (`svg.fonttype: path`), so the SVG
names no font to fetch and looks the same everywhere; a fixed hash salt and no date keep the output reproducible.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from layerspec.report.images import data_uri

SVG_SETTINGS: dict[Any, Any] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "layerspec",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
# One colour per run in comparisons (matplotlib's default cycle, colour-blind friendly enough for a few runs).
RUN_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class Series:
    """One run's per-epoch values for a chart: `train` and optionally `val`, indexed like `epochs`."""

    label: str
    epochs: list[int]
    train: list[float | None]
    val: list[float | None] | None = None
    kept_epoch: int | None = None
    names: tuple[str, str] = ("train", "val")


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with matplotlib.rc_context(SVG_SETTINGS):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return data_uri(buffer.getvalue(), "image/svg+xml")


def plain_text(label: str) -> str:
    """`label` as literal text for matplotlib, whose `$...$` would otherwise start mathematics (and can fail)."""
    return label.replace("\\", "\\\\").replace("$", r"\$")


def _values(values: Sequence[float | None]) -> list[float]:
    return [np.nan if v is None else v for v in values]


def _plot_series(axes: Axes, series: Series, colour: str, comparing: bool) -> None:
    """One run's lines. Alone, training and validation get a colour each; compared, a run keeps one colour and
    training is dashed, validation solid."""
    prefix = f"{plain_text(series.label)}: " if comparing else ""
    train_label, val_label = (f"{prefix}{name}" for name in series.names)
    train_colour, train_line = (colour, "--") if comparing else (RUN_COLOURS[0], "-")
    axes.plot(
        series.epochs, _values(series.train), color=train_colour, linestyle=train_line, marker=".", label=train_label
    )
    if series.val is not None and any(v is not None for v in series.val):
        val_colour = colour if comparing else RUN_COLOURS[1]
        axes.plot(series.epochs, _values(series.val), color=val_colour, marker="o", markersize=3, label=val_label)
    if series.kept_epoch is not None:
        axes.axvline(series.kept_epoch, color="#555555" if not comparing else colour, linewidth=0.8, linestyle=":")


def curves_chart(title: str, ylabel: str, runs: Sequence[Series], log_scale: bool = False) -> str | None:
    """Training vs validation per epoch, every run on the same axes; None if there is nothing to draw."""
    if not any(any(v is not None for v in s.train) for s in runs):
        return None
    with _figure(5.0, 3.0) as figure:
        axes = figure.add_subplot()
        for series, colour in zip(runs, _cycle(len(runs)), strict=True):
            _plot_series(axes, series, colour, comparing=len(runs) > 1)
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        if log_scale:
            axes.set_yscale("log")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(runs) > 1 or any(s.val is not None for s in runs):
            axes.legend(fontsize=7)
        return _svg_uri(figure)


# Counts are written in the cells up to this many classes; beyond, they would be too small to read and each one
# is a text drawn as paths (10,000 of them for 100 classes took 40 s): the colour shows the matrix, and the
# per-class table gives the figures.
COUNTED_CLASSES = 20
# Beyond this many classes only every k-th class is named on the axes, so that labels never overlap.
NAMED_CLASSES = 40


def confusion_chart(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> str:
    """The confusion matrix (rows: true class, columns: predicted), with counts written in the cells when few."""
    counts = np.asarray(matrix, dtype=np.int64)
    size = max(3.0, min(8.0, 1.5 + 0.4 * len(counts)))
    with _figure(size + 1.0, size) as figure:
        axes = figure.add_subplot()
        image = axes.imshow(counts, cmap="Blues")
        axes.grid(False)
        step = max(1, math.ceil(len(class_names) / NAMED_CLASSES))
        ticks = list(range(0, len(class_names), step))
        labels = [plain_text(class_names[i]) for i in ticks]
        axes.set_xticks(ticks, labels, rotation=45 if len(labels) > 6 else 0, ha="right")
        axes.set_yticks(ticks, labels)
        axes.set_xlabel("predicted class")
        axes.set_ylabel("true class")
        if len(counts) <= COUNTED_CLASSES:
            _write_counts(axes, counts)
        figure.colorbar(image, ax=axes, shrink=0.8)
        return _svg_uri(figure)


def predicted_vs_true_chart(true: Sequence[float], predicted: Sequence[float]) -> str:
    """A regression's test targets against the model's outputs, with the diagonal a perfect model lies on."""
    with _figure(4.6, 4.2) as figure:
        axes = figure.add_subplot()
        axes.scatter(list(true), list(predicted), s=10, alpha=0.6, color=RUN_COLOURS[0], linewidths=0)
        values = [*true, *predicted]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        axes.plot([low, high], [low, high], color="#7f7f7f", linewidth=1, linestyle="--")
        axes.set_xlabel("true value")
        axes.set_ylabel("predicted value")
        axes.set_aspect("equal", adjustable="datalim")
        return _svg_uri(figure)


def _write_counts(axes: Axes, counts: np.ndarray[Any, Any]) -> None:
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), count in np.ndenumerate(counts):
        colour = "white" if count > threshold else "black"
        axes.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=8)


def bar_chart(title: str, ylabel: str, epochs: Sequence[int], values: Sequence[float | None]) -> str | None:
    """One bar per epoch (epoch times); None if no value is known."""
    if not any(v is not None for v in values):
        return None
    with _figure(5.0, 2.6) as figure:
        axes = figure.add_subplot()
        axes.bar(list(epochs), _values(values), color=RUN_COLOURS[0])
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        return _svg_uri(figure)


def _cycle(count: int) -> list[str]:
    return [RUN_COLOURS[i % len(RUN_COLOURS)] for i in range(count)]


def horizontal_bars(title: str, xlabel: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """One bar per label, top to bottom in the given order (the per-layer memory chart)."""
    with _figure(5.6, 0.8 + 0.22 * len(labels)) as figure:
        axes = figure.add_subplot()
        positions = list(range(len(labels)))
        axes.barh(positions, list(values), color=RUN_COLOURS[0])
        axes.set_yticks(positions, [plain_text(label) for label in labels], fontsize=7)
        axes.invert_yaxis()
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        return _svg_uri(figure)
