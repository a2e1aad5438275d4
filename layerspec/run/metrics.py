"""`metrics.json` and the figures of a model on the test split (what `evaluate --json` prints)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from layerspec.run.record import MAX_CLASSES, Count, Name, Record, RunFile, Sha256, Share, Text

MAX_PLOTTED = 500  # points in the report's predicted-vs-true plot


class ClassScores(RunFile):
    class_: Name = Field(alias="class", description="The class's name.")
    precision: Share = Field(
        description="Share of the test images predicted as this class that are of it (0 when none was)."
    )
    recall: Share = Field(description="Share of the test images of this class predicted as it (0 when it has none).")
    f1: Share = Field(description="Harmonic mean of precision and recall (0 when both are 0).")
    support: Count = Field(description="Test images of this class.")


class Misclassified(RunFile):
    index: Count = Field(description="Position of the image in the test split.")
    file: Text | None = Field(default=None, description="The image's file for a folder dataset; null for HDF5.")
    true: Name | Count = Field(description="The image's class.")
    predicted: Name | Count = Field(description="The class the model predicted.")
    confidence: Share = Field(description="The probability the model gave the predicted class.")


class PredictedValue(RunFile):
    true: float = Field(description="The example's target (its first value when the targets are vectors).")
    predicted: float = Field(description="The model's output for it (the same value of the output).")


class RegressionScores(RunFile):
    """Error figures of a model whose loss is a regression loss (mean_squared_error, mean_absolute_error, huber),
    over every value of every test target."""

    mae: Annotated[float, Field(ge=0.0)] = Field(description="Mean absolute error.")
    mse: Annotated[float, Field(ge=0.0)] = Field(description="Mean squared error.")
    rmse: Annotated[float, Field(ge=0.0)] = Field(description="Root of the mean squared error, in the targets' unit.")
    r2: float | None = Field(
        default=None,
        description="Coefficient of determination: 1 - squared error / variance of the targets (1 is perfect, 0 "
        "no better than the mean); null when the targets do not vary.",
    )
    values: Count = Field(description="Target values compared (examples times values per example).")
    sample: list[PredictedValue] = Field(
        default_factory=list,
        max_length=MAX_PLOTTED,
        description=f"Up to {MAX_PLOTTED} (true, predicted) pairs, evenly spread over the test split, for the "
        "report's predicted-vs-true plot.",
    )


class Evaluation(RunFile):
    """The figures of a model on the test split: what `evaluate --json` prints and `train --json` holds as
    `metrics`."""

    test_loss: Annotated[float, Field(ge=0.0)] | None = Field(
        default=None, description="Mean cross-entropy on the test split (probabilities clipped as Keras clips them)."
    )
    test_accuracy: Share | None = Field(default=None, description="Share of the test images classified correctly.")
    test_count: Count | None = Field(default=None, description="Images in the test split.")
    class_names: list[Name] = Field(
        default_factory=list, max_length=MAX_CLASSES, description="The class names, in label order."
    )
    confusion_matrix: list[list[Count]] = Field(
        default_factory=list,
        max_length=MAX_CLASSES,
        description="Counts of test images: row i holds the images of class i, column j those predicted as class j.",
    )
    per_class: list[ClassScores] = Field(
        default_factory=list,
        max_length=MAX_CLASSES,
        description="Precision, recall, F1 and support of each class, in label order.",
    )
    misclassified: list[Misclassified] = Field(
        default_factory=list, description="Every test image predicted wrongly, in test-split order."
    )
    regression: RegressionScores | None = Field(
        default=None,
        description="Error figures, for a regression loss (then test_loss is that loss and the class figures are "
        "empty); absent for a classifier.",
    )

    @model_validator(mode="after")
    def _square_matrix(self) -> Evaluation:
        size = len(self.confusion_matrix)
        for index, row in enumerate(self.confusion_matrix):
            if len(row) != size:
                raise ValueError(f"row {index} of confusion_matrix has {len(row)} counts, not {size} (one per class)")
        if self.class_names and size and size != len(self.class_names):
            raise ValueError(f"confusion_matrix is {size}x{size} but class_names names {len(self.class_names)}")
        return self

    def to_json(self) -> dict[str, Any]:
        # A classifier's JSON keeps exactly its keys of before (no `regression: null`).
        return self.model_dump(mode="json", by_alias=True, exclude={"regression"} if self.regression is None else None)


class Metrics(Evaluation, Record):
    """`metrics.json`: the evaluation on the test split."""

    spec_sha256: Sha256 | None = Field(
        default=None,
        description="SHA-256 of the spec's text these results come from: the one build.json names, or they are not "
        "its.",
    )

    @classmethod
    def of(cls, figures: Evaluation, spec_sha256: str) -> Metrics:
        """The record of `figures`, naming the spec they came from."""
        return cls.model_validate({**dict(figures), "spec_sha256": spec_sha256})
