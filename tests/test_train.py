"""Training, evaluation and prediction end to end on a small subset of SIGNS with a small network.

One module-wide run (3 epochs) is shared by the tests that only read its folder; the determinism and resume tests
train the same spec again and compare with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from layerspec.cli import app

pytestmark = [pytest.mark.keras, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
SIGNS = REPO / "data" / "signs"
TINY_SPEC = """\
name: tiny_signs
input:
  shape: [64, 64, 3]
layers:
  - type: RandomFlip
    mode: horizontal
  - type: Conv2D
    name: conv
    filters: 4
    kernel_size: 5
    strides: 4
    activation: relu
  - type: MaxPooling2D
    pool_size: 4
  - type: BatchNormalization
    name: bn
  - type: Flatten
  - type: Dropout
    rate: 0.2
  - type: Dense
    name: fc
    units: 6
    activation: softmax
data:
  dir: .
  train: train.h5
  test: test.h5
  validation_split: 0.25
train:
  optimizer:
    type: adam
    learning_rate: 0.01
  schedule:
    type: cosine
  batch_size: 16
  epochs: 3
  keep:
    weights: best
    monitor: val_loss
  augment:
    flip: horizontal
    translate: 3
  seed: 5
  deterministic: true
{extra}"""


def write_spec(folder: Path, extra: str = "", name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(TINY_SPEC.format(extra=extra), encoding="utf-8")
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, signs_subset: Callable[..., Path]) -> Iterator[Path]:
    """A folder holding the subset and the spec; the working directory, so runs/.current stays in it."""
    folder = signs_subset(tmp_path_factory.mktemp("train"))
    write_spec(folder)
    previous = Path.cwd()
    os.chdir(folder)
    yield folder
    os.chdir(previous)


@pytest.fixture(scope="module")
def trained(workdir: Path) -> dict[str, Any]:
    result = invoke("train", str(workdir / "spec.yaml"), "--out", str(workdir / "run"), "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def checkpoint_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoints" / "last.npz") as archive:
        return {name: archive[name] for name in archive.files if name != "state"}


def test_json_payload_has_the_contract_keys(trained: dict[str, Any], workdir: Path) -> None:
    assert {"run_dir", "model", "history", "metrics", "epochs", "epoch_seconds"} <= trained.keys()
    assert trained["run_dir"] == str(workdir / "run") and Path(trained["model"]).is_file()
    assert trained["epochs"] == 3 and len(trained["epoch_seconds"]) == 3
    assert all(s > 0 for s in trained["epoch_seconds"])
    assert 0.0 <= trained["metrics"]["test_accuracy"] <= 1.0 and trained["metrics"]["test_loss"] > 0
    records = trained["history"]["epochs"]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"} <= records[0].keys()
    # cosine schedule: the rate falls epoch by epoch
    rates = [r["learning_rate"] for r in records]
    assert rates[0] == pytest.approx(0.01) and rates[0] > rates[1] > rates[2]


def test_pipeline_augmentation_is_seeded_per_epoch() -> None:
    from layerspec.data import Split
    from layerspec.spec.train import AugmentSpec
    from layerspec.train import _Pipeline

    images = np.random.default_rng(0).random((10, 8, 8, 3), dtype=np.float32)
    split = Split(images, np.arange(10) % 2)
    pipeline = _Pipeline.from_split(split, "sparse", 2, 4, (0, 1))
    plain = np.concatenate([x for x, _ in pipeline.epoch(3).as_numpy_iterator()])
    pipeline.augment = AugmentSpec(flip="horizontal", translate=2, brightness=0.1, rotate=0.05, zoom=0.1)
    first = np.concatenate([x for x, _ in pipeline.epoch(3).as_numpy_iterator()])
    again = np.concatenate([x for x, _ in pipeline.epoch(3).as_numpy_iterator()])
    other = np.concatenate([x for x, _ in pipeline.epoch(4).as_numpy_iterator()])
    np.testing.assert_array_equal(first, again)
    assert first.shape == plain.shape == (10, 8, 8, 3)
    assert not np.array_equal(first, plain) and not np.array_equal(first, other)
    unchanged = np.concatenate([x for x, _ in pipeline.epoch(None).as_numpy_iterator()])
    np.testing.assert_array_equal(unchanged, images)  # validation: in order, never augmented
    # the autotuner's thread made each epoch's end wait for its sleep; every pipeline runs untuned
    assert all(ds.options().autotune.enabled is False for ds in (pipeline.epoch(3), pipeline.epoch(None)))
    pipeline.augment = None
    assert pipeline.epoch(3).options().autotune.enabled is False


def test_rotation_and_zoom_turn_about_the_centre() -> None:
    import tensorflow as tf

    from layerspec.train import _rotated_and_zoomed

    image = np.random.default_rng(1).random((9, 9, 2), dtype=np.float32)
    seed = tf.constant([3, 4], tf.int64)
    turned = np.asarray(_rotated_and_zoomed(tf.constant(image), seed, 0.25, 0.3))
    np.testing.assert_array_equal(turned, np.asarray(_rotated_and_zoomed(tf.constant(image), seed, 0.25, 0.3)))
    np.testing.assert_allclose(turned[4, 4], image[4, 4], atol=1e-6)  # the centre stays where it is
    assert turned.shape == image.shape and not np.allclose(turned, image)
    still = np.asarray(_rotated_and_zoomed(tf.constant(image), seed, 1e-9, 0.0))
    np.testing.assert_allclose(still, image, atol=1e-5)  # no angle, no zoom: the image itself


def test_run_folder_files(trained: dict[str, Any], keras: Any) -> None:
    run = Path(trained["run_dir"])
    history = json.loads((run / "history.json").read_text())
    assert history["kept_epoch"] in (1, 2, 3) and "val_loss" in history["kept_reason"]
    best = min(history["epochs"], key=lambda r: r["val_loss"])
    assert history["kept_epoch"] == best["epoch"]
    csv_lines = (run / "history.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds")
    assert len(csv_lines) == 4
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test_loss", "test_accuracy", "class_names", "confusion_matrix", "per_class", "misclassified"} <= set(
        metrics
    )
    record = json.loads((run / "train.json").read_text())
    assert record["seed"] == 5 and record["counts"] == {"train": 54, "val": 18, "test": 24}
    assert {"command", "settings", "started", "finished"} <= record.keys()
    assert (run / "checkpoints" / "last.npz").is_file()
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert model.count_params() == 4 * (5 * 5 * 3 + 1) + 4 * 4 + 6 * (3 * 3 * 4 + 1)
    assert type(model.get_layer("bn")) is keras.layers.BatchNormalization  # trained fused, saved as Keras's
    assert not list(run.glob(".*tmp*")), "temporary files left behind"


def test_same_seed_gives_the_same_metrics(trained: dict[str, Any], workdir: Path) -> None:
    again = invoke("train", str(workdir / "spec.yaml"), "--out", str(workdir / "again"), "--json")
    assert again.exit_code == 0, again.output
    payload = json.loads(again.stdout)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in payload["history"]["epochs"]]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in trained["history"]["epochs"]]
    assert payload["metrics"]["test_loss"] == trained["metrics"]["test_loss"]
    assert payload["metrics"]["confusion_matrix"] == trained["metrics"]["confusion_matrix"]


def test_interrupt_then_resume_ends_with_the_uninterrupted_weights(
    trained: dict[str, Any], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = workdir / "resumed"
    monkeypatch.setenv("LAYERSPEC_TEST_SIGNAL_AT_EPOCH", "2")  # a real SIGINT to itself at epoch 2's first batch
    stopped = invoke("train", str(workdir / "spec.yaml"), "--out", str(run))
    assert stopped.exit_code == 130, stopped.output
    assert "SIGINT during epoch 2" in stopped.output and "--resume" in stopped.output
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 1 and state["interrupted"]["epoch"] == 2
    monkeypatch.delenv("LAYERSPEC_TEST_SIGNAL_AT_EPOCH")
    resumed = invoke("train", str(run), "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    payload = json.loads(resumed.stdout)
    assert payload["epochs"] == 3
    assert payload["metrics"]["test_loss"] == trained["metrics"]["test_loss"]
    expected = checkpoint_arrays(Path(trained["run_dir"]))
    actual = checkpoint_arrays(run)
    assert expected.keys() == actual.keys()
    for name in expected:  # model weights, optimizer slots and random-seed states, bit for bit
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def test_resume_without_checkpoint_is_a_usage_error(workdir: Path) -> None:
    result = invoke("train", str(workdir / "spec.yaml"), "--out", str(workdir / "never"), "--resume")
    assert result.exit_code == 2 and "nothing to resume" in result.output


def test_evaluate_writes_metrics_and_prints_a_table(trained: dict[str, Any]) -> None:
    run = trained["run_dir"]
    table = invoke("evaluate", run)
    assert table.exit_code == 0, table.output
    assert "confusion matrix" in table.stdout and "precision" in table.stdout and "misclassified" in table.stdout
    result = invoke("evaluate", run, "--json")
    metrics = json.loads(result.stdout)
    assert metrics["test_accuracy"] == pytest.approx(trained["metrics"]["test_accuracy"])
    assert metrics["test_loss"] == pytest.approx(trained["metrics"]["test_loss"], rel=1e-5)
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == 24 and matrix.shape == (6, 6)
    assert len(metrics["misclassified"]) == 24 - np.trace(matrix)
    for wrong in metrics["misclassified"]:
        assert wrong["true"] != wrong["predicted"] and 0 < wrong["confidence"] <= 1
    for row in metrics["per_class"]:
        assert row["support"] == 4 and 0 <= row["f1"] <= 1


def test_predict_images(trained: dict[str, Any], workdir: Path) -> None:
    images = sorted((SIGNS / "images" / "test" / "3").glob("*.jpg"))[:2]
    png = workdir / "sign.png"
    from PIL import Image

    Image.open(images[0]).resize((128, 128)).save(png)  # resized back to 64x64 as the data section says
    result = invoke("predict", trained["run_dir"], str(images[0]), str(images[1]), str(png))
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3 and str(images[0]) in result.stdout
    payload = json.loads(invoke("predict", trained["run_dir"], str(png), "--json").stdout)
    assert payload[0]["class"] in [str(i) for i in range(6)]
    assert sum(payload[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)


def test_predict_broken_image_exits_3(trained: dict[str, Any], workdir: Path) -> None:
    broken = workdir / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = invoke("predict", trained["run_dir"], str(broken))
    assert result.exit_code == 3 and f"{broken}: error: not a JPEG, PNG, BMP or GIF image" in result.output
    assert "Traceback" not in result.output


def test_bfloat16_with_xla(workdir: Path, keras: Any) -> None:
    spec = write_spec(workdir, "  mixed_precision: bfloat16\n  jit_compile: true\n", "bf16.yaml")
    result = invoke("train", str(spec), "--out", str(workdir / "bf16"), "--epochs", "1", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["epochs"] == 1 and np.isfinite(payload["metrics"]["test_loss"])
    record = json.loads((workdir / "bf16" / "train.json").read_text())
    assert record["settings"]["mixed_precision"] == "bfloat16" and record["settings"]["jit_compile"] is True
    model = keras.saving.load_model(workdir / "bf16" / "model.keras", safe_mode=True)
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert policies["conv"] == "mixed_bfloat16" and policies["fc"] == "float32"  # softmax kept in float32


def test_auto_precision_is_recorded(workdir: Path) -> None:
    from layerspec.hardware import this_cpu

    spec = write_spec(workdir, "  mixed_precision: auto\n", "auto.yaml")
    result = invoke("train", str(spec), "--out", str(workdir / "auto"), "--epochs", "1")
    assert result.exit_code == 0, result.output
    record = json.loads((workdir / "auto" / "train.json").read_text())
    import tensorflow as tf

    gpu = bool(tf.config.list_logical_devices("GPU"))
    expected = "float16" if gpu else "bfloat16" if this_cpu().native_bfloat16 else "float32"
    assert record["precision"]["requested"] == "auto" and record["precision"]["chosen"] == expected
    assert record["settings"]["mixed_precision"] == expected and record["precision"]["reason"]
    assert record["cpu"]["model"] == this_cpu().model


def train_last(workdir: Path, name: str, optimizer_extra: str = "") -> dict[str, Any]:
    """The tiny spec keeping the last weights, with extra optimizer settings."""
    text = TINY_SPEC.format(extra="").replace("weights: best", "weights: last")
    text = text.replace("    learning_rate: 0.01\n", "    learning_rate: 0.01\n" + optimizer_extra)
    spec = workdir / f"{name}.yaml"
    spec.write_text(text, encoding="utf-8")
    result = invoke("train", str(spec), "--out", str(workdir / name), "--json")
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def model_weights(keras: Any, run_dir: Path) -> list[np.ndarray]:
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    return [np.asarray(w) for w in model.get_weights()]


def test_weight_average_is_put_into_the_model_once_after_training(workdir: Path, keras: Any) -> None:
    plain = train_last(workdir, "last")
    averaged = train_last(workdir, "ema", "    use_ema: true\n    ema_momentum: 0.9\n")
    no_memory = train_last(workdir, "ema0", "    use_ema: true\n    ema_momentum: 0.0\n")
    # training itself runs on the raw weights: fit must not restart each epoch from the average
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in plain["history"]["epochs"]]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in averaged["history"]["epochs"]] == strip
    assert "moving average of the weights (momentum 0.9)" in averaged["history"]["kept_reason"]
    raw, average = model_weights(keras, workdir / "last"), model_weights(keras, workdir / "ema")
    assert any(not np.array_equal(a, b) for a, b in zip(raw, average, strict=True))
    for a, b in zip(raw, model_weights(keras, workdir / "ema0"), strict=True):  # momentum 0: the last weights
        np.testing.assert_array_equal(a, b)
    assert no_memory["metrics"]["test_loss"] == plain["metrics"]["test_loss"]
    saved = json.loads((workdir / "ema" / "train.json").read_text())["settings"]["optimizer"]
    assert saved["use_ema"] is True and saved["ema_momentum"] == 0.9


def test_early_stopping_stops_and_says_so(workdir: Path) -> None:
    # the training loss can never improve by 10: the first epoch sets the mark, the second waits, then stop
    extra = "  early_stopping:\n    monitor: loss\n    patience: 1\n    min_delta: 10.0\n"
    spec = write_spec(workdir, extra, "early.yaml")
    result = invoke("train", str(spec), "--out", str(workdir / "early"), "--epochs", "10", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["epochs"] == 2 and "stopped early after epoch 2" in payload["history"]["kept_reason"]
    assert json.loads((workdir / "early" / "train.json").read_text())["stopped_early"] is True


def test_float16_training_on_image_folders(workdir: Path, keras: Any) -> None:
    """The JPEG copy of SIGNS in class folders, trained in float16 (loss scaling) through the fused batch norm."""
    import shutil

    for split, count in (("train", 8), ("test", 2)):
        for label in range(6):
            target = workdir / "jpeg" / split / str(label)
            target.mkdir(parents=True)
            for image in sorted((SIGNS / "images" / split / str(label)).glob("*.jpg"))[:count]:
                shutil.copy(image, target)
    spec = workdir / "folders.yaml"
    text = TINY_SPEC.format(extra="  mixed_precision: float16\n")
    text = text.replace(
        "  train: train.h5\n  test: test.h5\n", "  format: folder\n  train: jpeg/train\n  test: jpeg/test\n"
    )
    spec.write_text(text, encoding="utf-8")
    result = invoke("train", str(spec), "--out", str(workdir / "folders"), "--epochs", "1", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert np.isfinite(payload["metrics"]["test_loss"]) and payload["metrics"]["test_count"] == 12
    record = json.loads((workdir / "folders" / "train.json").read_text())
    assert record["counts"] == {"train": 36, "val": 12, "test": 12}
    model = keras.saving.load_model(workdir / "folders" / "model.keras", safe_mode=True)
    assert model.get_layer("conv").dtype_policy.name == "mixed_float16"
    assert type(model.get_layer("bn")) is keras.layers.BatchNormalization


def run_python(code: str, cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


MIRRORED = """
import json, sys
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from layerspec.spec import load_spec
from layerspec.train import TrainOptions, train_run
result = train_run(Path("mirrored"), load_spec(Path("mirrored.yaml")), TrainOptions(epochs=1))
record = json.loads(Path("mirrored/train.json").read_text())
print(json.dumps({"replicas": record["replicas"], "accuracy": result.metrics.test_accuracy}))
"""


def test_mirrored_strategy_on_two_logical_cpus(workdir: Path) -> None:
    write_spec(workdir, "  strategy:\n    type: mirrored\n", "mirrored.yaml")
    done = run_python(MIRRORED, workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and 0 <= result["accuracy"] <= 1


MULTI_WORKER = """
import json, socket
from pathlib import Path
with socket.socket() as probe:
    probe.bind(("localhost", 0))
    port = probe.getsockname()[1]
import os
config = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
os.environ["TF_CONFIG"] = json.dumps(config)
from layerspec.spec import load_spec
from layerspec.train import TrainOptions, train_run
result = train_run(Path("multi"), load_spec(Path("multi.yaml")), TrainOptions(epochs=1))
record = json.loads(Path("multi/train.json").read_text())
print(json.dumps({"replicas": record["replicas"], "epochs": result.epochs}))
"""


def test_multi_worker_strategy_from_tf_config(workdir: Path) -> None:
    write_spec(workdir, "  strategy:\n    type: multi_worker\n", "multi.yaml")
    done = run_python(MULTI_WORKER, workdir)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"replicas": 1, "epochs": 1}  # one worker (this process) named by TF_CONFIG


def test_sigterm_stops_at_a_batch_boundary_and_saves_a_checkpoint(workdir: Path) -> None:
    spec = write_spec(workdir, "", "long.yaml")
    layerspec = Path(sys.executable).parent / "layerspec"
    command = [str(layerspec), "train", str(spec), "--out", "long", "--epochs", "500"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # wait until training is under way
        if line.startswith("epoch 2/500"):
            break
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "SIGTERM" in stderr and "stopped; checkpoint of epoch" in stderr and "Traceback" not in stderr
    state = json.loads((workdir / "long" / "checkpoints" / "state.json").read_text())
    assert state["epoch"] >= 2 and state["interrupted"]["signal"] == signal.SIGTERM
    assert not (workdir / "long" / "history.json").exists()  # the run did not finish: no final artefacts
