"""The train section's rules that need no TensorFlow: schedules, early stopping, best epoch, cross-section checks."""

from __future__ import annotations

import functools
import itertools
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import pytest

from layerspec import recipes
from layerspec.check import check_file
from layerspec.errors import SpecError, UsageError
from layerspec.rules.runtime import check_training_data
from layerspec.spec import load_spec
from layerspec.spec.train import LossName, MetricName, OptimizerSpec, ScheduleSpec, TrainSpec
from layerspec.train import TrainOptions, best_epoch, epochs_without_improvement, learning_rate, train_settings

SPEC = """\
name: tiny
input:
  shape: [4]
layers:
  - type: Dense
    units: 3
    activation: softmax
{sections}"""


def spec_file(tmp_path: Path, sections: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(sections=sections), encoding="utf-8")
    return path


def rates(schedule: ScheduleSpec, total: int = 10) -> list[float]:
    return [learning_rate(schedule, 0.1, e, total, []) for e in range(total)]


def test_constant_schedule() -> None:
    assert rates(ScheduleSpec()) == [0.1] * 10


def test_cosine_schedule_falls_from_the_rate_to_the_floor() -> None:
    values = rates(ScheduleSpec(type="cosine", min_learning_rate=0.001))
    assert values[0] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(values))
    assert values[5] == pytest.approx(0.001 + 0.099 * 0.5)
    assert values[-1] == pytest.approx(0.001 + 0.099 * 0.5 * (1 + math.cos(math.pi * 0.9)))


def test_warmup_then_exponential() -> None:
    values = rates(ScheduleSpec(type="exponential", decay_rate=0.5, warmup_epochs=2))
    assert values[:4] == pytest.approx([0.01, 0.055, 0.1, 0.05])


def test_step_schedule() -> None:
    values = rates(ScheduleSpec(type="step", decay_rate=0.1, step_epochs=4))
    assert values == pytest.approx([0.1] * 4 + [0.01] * 4 + [0.001] * 2)


def history(val_losses: list[float], rate: float = 0.1) -> list[dict[str, float]]:
    return [{"val_loss": v, "learning_rate": rate} for v in val_losses]


def test_reduce_on_plateau_waits_patience_epochs() -> None:
    schedule = ScheduleSpec(type="reduce_on_plateau", patience=2, decay_rate=0.5)
    assert learning_rate(schedule, 0.1, 0, 10, []) == 0.1
    assert learning_rate(schedule, 0.1, 3, 10, history([1.0, 0.9, 0.95])) == 0.1
    assert learning_rate(schedule, 0.1, 4, 10, history([1.0, 0.9, 0.95, 0.96])) == 0.05
    # after a reduction the count starts again
    reduced = [*history([1.0, 0.9, 0.95, 0.96]), {"val_loss": 0.98, "learning_rate": 0.05}]
    assert learning_rate(schedule, 0.1, 5, 10, reduced) == 0.05
    reduced.append({"val_loss": 0.99, "learning_rate": 0.05})
    assert learning_rate(schedule, 0.1, 6, 10, reduced) == 0.025


def test_early_stopping_counts_epochs_without_improvement() -> None:
    assert epochs_without_improvement([1.0, 0.8, 0.9, 0.85], "val_loss") == 2
    assert epochs_without_improvement([0.5, 0.7, 0.71], "val_accuracy") == 0
    assert epochs_without_improvement([0.5, 0.7, 0.705], "val_accuracy", min_delta=0.01) == 1


def test_best_epoch_takes_the_earliest_on_ties() -> None:
    records = [{"val_accuracy": a} for a in (0.5, 0.9, 0.9, 0.7)]
    assert best_epoch(records, "val_accuracy") == 1
    assert best_epoch([{"val_loss": v} for v in (0.5, 0.3, 0.4)], "val_loss") == 1


def test_command_line_overrides(tmp_path: Path) -> None:
    loaded = load_spec(spec_file(tmp_path, "train:\n  epochs: 7\n  seed: 3\n"))
    assert train_settings(loaded).epochs == 7
    settings = train_settings(loaded, TrainOptions(epochs=2, seed=9))
    assert (settings.epochs, settings.seed) == (2, 9)


@pytest.mark.parametrize(("epochs", "seed", "message"), [(None, 2**31, "--seed 2147483648"), (10**6, None, "--epochs")])
def test_command_line_overrides_keep_the_bounds(
    tmp_path: Path, epochs: int | None, seed: int | None, message: str
) -> None:
    loaded = load_spec(spec_file(tmp_path, ""))
    with pytest.raises(UsageError, match=message):
        train_settings(loaded, TrainOptions(epochs=epochs, seed=seed))


def test_loss_must_fit_the_label_encoding(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "data:\n  labels: sparse\ntrain:\n  loss: categorical_crossentropy\n")
    with pytest.raises(SpecError) as caught:
        check_file(path)
    assert ":11:9: error: loss 'categorical_crossentropy' does not fit labels 'sparse'" in str(caught.value)


def test_validation_monitors_need_validation_data(tmp_path: Path) -> None:
    sections = "train:\n  keep:\n    weights: best\n  early_stopping:\n    monitor: val_accuracy\n"
    with pytest.raises(SpecError) as caught:
        check_file(spec_file(tmp_path, sections))
    assert len(caught.value.diagnostics) == 2 and "validation_split" in str(caught.value)
    check_file(spec_file(tmp_path, sections + "data:\n  validation_split: 0.2\n"))


def test_batch_size_is_checked_against_the_loaded_split(tmp_path: Path) -> None:
    loaded = load_spec(spec_file(tmp_path, "train:\n  batch_size: 32\n"))
    check_training_data(loaded, train_settings(loaded), {"train": 32, "val": 0, "test": 0})
    with pytest.raises(SpecError) as caught:
        check_training_data(loaded, train_settings(loaded), {"train": 20, "val": 0, "test": 0})
    assert ":9:15: error: batch_size 32 is larger than the training split (20 examples" in str(caught.value)


def test_an_empty_validation_split_is_refused_when_watched(tmp_path: Path) -> None:
    sections = "data:\n  validation_split: 0.1\ntrain:\n  keep: {weights: best}\n"
    loaded = load_spec(spec_file(tmp_path, sections))
    with pytest.raises(SpecError, match="the validation split holds no examples"):
        check_training_data(loaded, train_settings(loaded), {"train": 6, "val": 0, "test": 0})


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("train:\n  optimizer:\n    type: adagrad\n", "adagrad"),
        ("train:\n  epochs: true\n", "epochs"),
        ("train:\n  batch_size: 0\n", "batch_size"),
        ("train:\n  optimiser: {}\n", "optimizer"),
        ("train:\n  mixed_precision: float8\n", "float8"),
        ("train:\n  loss: sparse_categorical_crossentropy\n  label_smoothing: 0.1\n", "label_smoothing"),
        ("train:\n  optimizer:\n    use_ema: true\n  keep:\n    weights: best\n", "use_ema"),
        ("train:\n  optimizer:\n    ema_momentum: 1.0\n", "ema_momentum"),
    ],
)
def test_bad_train_sections_are_spec_errors(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        check_file(spec_file(tmp_path, section))
    assert message in str(caught.value) and str(tmp_path / "spec.yaml") in str(caught.value)


def test_defaults() -> None:
    settings = TrainSpec()
    assert (settings.optimizer.type, settings.batch_size, settings.keep.weights) == ("adam", 64, "last")


# ---- the recipe registries (layerspec.recipes): names the spec accepts, and what each builds --------------------


@pytest.mark.parametrize(
    ("choices", "registry"),
    [
        (OptimizerSpec.model_fields["type"].annotation, recipes.OPTIMIZERS),
        (ScheduleSpec.model_fields["type"].annotation, recipes.SCHEDULES),
        (LossName, recipes.LOSSES),
        (MetricName, recipes.METRICS),
    ],
    ids=["optimizers", "schedules", "losses", "metrics"],
)
def test_spec_choices_are_the_registry_entries(choices: Any, registry: dict[str, Any]) -> None:
    """A name the spec accepts without an entry would fail in training; an entry the spec refuses is dead."""
    assert set(get_args(choices)) == set(registry)


class _Built:
    """Stands for a Keras class: records which one was called, and with what."""

    def __init__(self, keras_class: str, /, **kwargs: Any) -> None:
        self.keras_class, self.kwargs = keras_class, kwargs


def _fake_keras() -> SimpleNamespace:
    def family(*names: str) -> SimpleNamespace:
        return SimpleNamespace(**{n: functools.partial(_Built, n) for n in names})

    return SimpleNamespace(
        optimizers=family("Adam", "AdamW", "SGD", "RMSprop"),
        losses=family(
            "CategoricalCrossentropy",
            "SparseCategoricalCrossentropy",
            "BinaryCrossentropy",
            "MeanSquaredError",
            "MeanAbsoluteError",
            "Huber",
        ),
        metrics=family(
            "TopKCategoricalAccuracy",
            "SparseTopKCategoricalAccuracy",
            "BinaryAccuracy",
            "AUC",
            "MeanAbsoluteError",
            "MeanSquaredError",
        ),
    )


@pytest.mark.parametrize(
    ("name", "built", "argument"),
    [
        ("adam", "Adam", ("weight_decay", None)),
        ("adamw", "AdamW", ("weight_decay", 0.004)),
        ("sgd", "SGD", ("nesterov", True)),
        ("rmsprop", "RMSprop", ("momentum", 0.5)),
    ],
)
def test_each_optimizer_builds_its_own_keras_class(name: str, built: str, argument: tuple[str, Any]) -> None:
    spec = OptimizerSpec.model_validate({"type": name, "momentum": 0.5, "nesterov": True, "learning_rate": 0.01})
    optimizer = recipes.optimizer(_fake_keras(), spec)
    assert optimizer.keras_class == built and optimizer.kwargs["learning_rate"] == 0.01
    assert optimizer.kwargs[argument[0]] == argument[1]


def test_losses_and_metrics_build_their_keras_classes() -> None:
    keras, settings = _fake_keras(), TrainSpec(label_smoothing=0.1)
    smoothed = recipes.loss(keras, "categorical_crossentropy", settings)
    assert (smoothed.keras_class, smoothed.kwargs) == (
        "CategoricalCrossentropy",
        {"label_smoothing": 0.1, "from_logits": False},
    )
    sparse = recipes.loss(keras, "sparse_categorical_crossentropy", settings)
    assert sparse.keras_class == "SparseCategoricalCrossentropy"
    sparse, one_hot = recipes.MetricInputs("sparse"), recipes.MetricInputs("one_hot")
    assert recipes.metric(keras, "accuracy", sparse) == "accuracy"
    top = recipes.metric(keras, "top_3_accuracy", one_hot)
    assert (top.keras_class, top.kwargs) == ("TopKCategoricalAccuracy", {"k": 3, "name": "top_3_accuracy"})
    assert recipes.metric(keras, "top_2_accuracy", sparse).keras_class == "SparseTopKCategoricalAccuracy"


def test_from_logits_and_huber_delta_reach_the_keras_objects() -> None:
    keras, settings = _fake_keras(), TrainSpec(from_logits=True, huber_delta=2.5)
    for name, keras_class in [
        ("categorical_crossentropy", "CategoricalCrossentropy"),
        ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"),
        ("binary_crossentropy", "BinaryCrossentropy"),
    ]:
        built = recipes.loss(keras, name, settings)
        assert (built.keras_class, built.kwargs["from_logits"]) == (keras_class, True)
    huber = recipes.loss(keras, "huber", settings)
    assert (huber.keras_class, huber.kwargs) == ("Huber", {"delta": 2.5})
    logits = recipes.MetricInputs("values", from_logits=True)
    assert recipes.metric(keras, "binary_accuracy", logits).kwargs["threshold"] == 0.0
    assert recipes.metric(keras, "binary_accuracy", recipes.MetricInputs("values")).kwargs["threshold"] == 0.5
    assert recipes.metric(keras, "auc", logits).kwargs["from_logits"] is True
    assert recipes.metric(keras, "mae", logits).keras_class == "MeanAbsoluteError"


def test_an_unknown_name_is_an_error_not_another_entry() -> None:
    """The spec refuses unknown names; should one get through, training must stop, not use some other optimizer."""
    keras = _fake_keras()
    with pytest.raises(LookupError, match=r"no optimizer named 'adagrad'.*known: adam, adamw, sgd, rmsprop"):
        recipes.optimizer(keras, OptimizerSpec.model_construct(type="adagrad"))
    with pytest.raises(LookupError, match="no schedule named 'linear'"):
        learning_rate(ScheduleSpec.model_construct(type="linear", warmup_epochs=0), 0.1, 0, 10, [])
    with pytest.raises(LookupError, match="no loss named 'hinge'"):
        recipes.loss(keras, "hinge", TrainSpec())
    with pytest.raises(LookupError, match="no metric named 'top_7_accuracy'"):
        recipes.metric(keras, "top_7_accuracy", recipes.MetricInputs("sparse"))


def test_warmup_applies_only_to_the_schedules_that_say_so() -> None:
    for name, entry in recipes.SCHEDULES.items():
        values = rates(ScheduleSpec.model_validate({"type": name, "warmup_epochs": 2}))
        assert (values[0] == pytest.approx(0.01)) == entry.warms_up, name


def test_a_registry_refuses_a_name_twice() -> None:
    entry = recipes.Recipe("adam", lambda keras, spec: None)
    with pytest.raises(ValueError, match="'adam' is registered twice"):
        recipes._registry(entry, entry)


@pytest.mark.keras
def test_every_entry_builds_with_keras(keras: Any) -> None:
    """The fake Keras above checks which class each name picks; this checks that Keras takes the arguments."""
    for name in recipes.OPTIMIZERS:
        optimizer = recipes.optimizer(keras, OptimizerSpec.model_validate({"type": name, "clipnorm": 1.0}))
        assert type(optimizer).__name__.lower() == name
    for name in recipes.LOSSES:
        assert isinstance(recipes.loss(keras, name, TrainSpec(label_smoothing=0.1)), keras.losses.Loss)
    for name in recipes.METRICS:
        for labels in ("one_hot", "sparse"):
            built = recipes.metric(keras, name, recipes.MetricInputs(labels, from_logits=name == "auc"))
            assert built == "accuracy" if name == "accuracy" else built.name == name


def test_the_train_result_gives_the_json_payload_and_moves_with_its_folder(tmp_path: Path) -> None:
    from layerspec.train import TrainResult

    epochs = [
        {"epoch": 1, "loss": 0.5, "learning_rate": 0.1, "seconds": 2.0},
        {"epoch": 2, "loss": 0.4, "seconds": 3.0},
    ]
    from layerspec.run.models import Epoch

    history = [Epoch.model_validate(epoch) for epoch in epochs]
    result = TrainResult(tmp_path / ".run.new", history, 2, "last epoch", None)  # no test split
    payload = result.moved_to(tmp_path / "run").to_json()
    assert payload == {
        "run_dir": str(tmp_path / "run"),
        "model": str(tmp_path / "run" / "model.keras"),
        "history": {"epochs": epochs, "kept_epoch": 2, "kept_reason": "last epoch"},
        "metrics": {"test_loss": None, "test_accuracy": None},
        "epochs": 2,
        "epoch_seconds": [2.0, 3.0],
    }
    assert list(payload) == ["run_dir", "model", "history", "metrics", "epochs", "epoch_seconds"]


def test_errors_are_better_lower_and_scores_higher() -> None:
    assert recipes.better(0.1, 0.2, "val_mae") and recipes.better(0.1, 0.2, "mse")
    assert not recipes.better(0.3, 0.2, "val_mse")
    assert recipes.better(0.9, 0.8, "val_auc") and recipes.better(0.9, 0.8, "binary_accuracy")
