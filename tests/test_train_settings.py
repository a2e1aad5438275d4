"""The train section's rules that need no TensorFlow: schedules, early stopping, best epoch, cross-section checks."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from layerspec.check import check_file
from layerspec.errors import SpecError, UsageError
from layerspec.rules.runtime import check_training_data
from layerspec.spec import load_spec
from layerspec.spec.train import ScheduleSpec, TrainSpec
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
