"""The train stage: fit a compiled spec on its dataset as its `train:` section says (imports TensorFlow).

The epoch loop is layerspec's own (one `model.fit` call per epoch) so that everything that decides the next epoch
(learning rate, early stopping, best weights) is a function of the history alone. A checkpoint is therefore just
the variables (model, optimizer, random-seed states) plus the history, and `--resume` continues exactly where an
uninterrupted run would be: shuffling order depends only on (seed, epoch), never on how many epochs ran before in
this process.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from layerspec import recipes
from layerspec.artifacts import atomic_path
from layerspec.check import check_loaded
from layerspec.data import Dataset, Split, data_root, data_spec, load_dataset
from layerspec.errors import EXIT_INTERRUPTED, DataError, Diagnostic, LayerspecError, SpecError, UsageError
from layerspec.evaluate import classification_metrics, predict_probabilities
from layerspec.fused import standard_batchnorm, use_fused_batchnorm
from layerspec.hardware import PrecisionChoice, choose_precision, this_cpu
from layerspec.recipes import better, epochs_without_improvement, learning_rate
from layerspec.rules.runtime import check_overrides, check_training_data
from layerspec.run import (
    FORMAT_VERSION,
    CheckpointState,
    History,
    Metrics,
    RunFolder,
    TrainInfo,
    checkpoint_state,
    folder,
    set_current_run,
)
from layerspec.spec import LoadedSpec
from layerspec.spec.train import LOSS_FOR_LABELS, AugmentSpec, TrainSpec

CHECKPOINT = Path(folder.CHECKPOINT)
BEST_WEIGHTS = Path(folder.BEST_WEIGHTS)
SIGNAL_AT_EPOCH_ENV = "LAYERSPEC_TEST_SIGNAL_AT_EPOCH"  # test hook: SIGINT to itself at the start of that epoch
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"]


class Interrupted(LayerspecError):
    """Training stopped by SIGINT/SIGTERM after a checkpoint was saved (exit code 130)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], EXIT_INTERRUPTED)


@dataclass(frozen=True)
class TrainOptions:
    """Command-line overrides of the spec's train section."""

    epochs: int | None = None
    seed: int | None = None
    data_dir: Path | None = None
    resume: bool = False
    command: str = "layerspec train"


@dataclass
class _Progress:
    stream: TextIO | None

    def write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()

    @property
    def bar(self) -> bool:
        return self.stream is not None and self.stream.isatty()


@dataclass
class _StopRequest:
    """Set by the signal handler; the batch callback turns it into `model.stop_training`."""

    signum: int | None = None
    epoch: int = 0
    batch: int = 0


# ------------------------------------------------------------------------------------------------ settings


def train_settings(loaded: LoadedSpec, options: TrainOptions | None = None) -> TrainSpec:
    """The spec's train section (defaults when absent) with the command line's overrides applied."""
    settings = loaded.spec.train if loaded.spec.train is not None else TrainSpec()
    updates: dict[str, Any] = {}
    if options is not None:
        check_overrides(options.epochs, options.seed)
    if options is not None and options.epochs is not None:
        updates["epochs"] = options.epochs
    if options is not None and options.seed is not None:
        updates["seed"] = options.seed
    return settings.model_copy(update=updates)


def loss_name(loaded: LoadedSpec, settings: TrainSpec) -> str:
    """The loss: the one the data section's label encoding needs (`check` refuses any other)."""
    return LOSS_FOR_LABELS[data_spec(loaded).labels]


# ------------------------------------------------------------------------------------------------ runtime


def prepare_runtime(settings: TrainSpec) -> None:
    """Thread pools, determinism and seeds; must run before TensorFlow executes its first op for threads."""
    from layerspec.compile import keras_module

    keras = keras_module()
    import tensorflow as tf

    try:
        if settings.threads.intra_op is not None:
            tf.config.threading.set_intra_op_parallelism_threads(settings.threads.intra_op)
        if settings.threads.inter_op is not None:
            tf.config.threading.set_inter_op_parallelism_threads(settings.threads.inter_op)
    except RuntimeError:
        pass  # TensorFlow already started in this process (e.g. a test): its pools stay as they are
    if settings.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(settings.seed)


def resolve_precision(settings: TrainSpec) -> PrecisionChoice:
    """The spec's mixed_precision made concrete for this machine (`auto` depends on its GPU and CPU)."""
    import tensorflow as tf

    gpu = bool(tf.config.list_logical_devices("GPU"))
    return choose_precision(settings.mixed_precision, gpu, this_cpu())


def make_strategy(settings: TrainSpec, loaded: LoadedSpec) -> Any:
    import tensorflow as tf

    kind = settings.strategy.type
    if kind == "mirrored":
        devices = settings.strategy.devices
        if devices is None:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        else:
            check_devices(loaded, devices)
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def check_devices(loaded: LoadedSpec, devices: list[str]) -> None:
    """Every device `strategy.devices` names exists here: TensorFlow would otherwise place the work on another
    device without a word (soft placement), so `/gpu:7` on a machine with one GPU, or none, would train on the CPU."""
    import tensorflow as tf

    here = {_device_key(d.name): d.name for d in tf.config.list_logical_devices()}
    problems = []
    for index, name in enumerate(devices):
        key = _device_key(name)
        if key is None or key not in here:
            problems.append(
                loaded.source.diagnostic(
                    ("train", "strategy", "devices", index),
                    f"device '{name}' does not exist on this machine (its devices: {', '.join(here.values())}): "
                    "name one of them, or leave out `devices` to use every GPU (else every CPU)",
                )
            )
    if problems:
        raise SpecError(problems)


def _device_key(name: str) -> tuple[str, int] | None:
    """(type, index) of a device name as TensorFlow spells them (`/gpu:1`, `/device:GPU:1`, `/job:localhost/...`)."""
    import tensorflow as tf

    try:
        spec = tf.DeviceSpec.from_string(name)
    except (ValueError, TypeError):
        return None
    if spec.device_type is None or spec.job not in (None, "localhost") or spec.task not in (None, 0):
        return None
    return spec.device_type.upper(), spec.device_index or 0


def is_chief() -> bool:
    """Only one worker of a multi-worker job writes the run folder (TF_CONFIG names the others)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
        task, cluster = config.get("task", {}), config.get("cluster", {})
        kind, index = task.get("type", "chief"), task.get("index", 0)
    except (ValueError, AttributeError):
        return True
    return bool(kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster))


@contextmanager
def mixed_precision(policy: str) -> Iterator[None]:
    """The layers' dtype policy while the model is built; restored afterwards so the process is left as found."""
    from layerspec.compile import keras_module

    keras = keras_module()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy if policy == "float32" else f"mixed_{policy}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(loaded: LoadedSpec, settings: TrainSpec, strategy: Any) -> Any:
    """Compile the spec into a Keras model and attach optimizer, loss and metrics, inside the strategy's scope."""
    from layerspec.compile import compile_model, keras_module

    keras = keras_module()
    with strategy.scope(), mixed_precision(settings.mixed_precision):
        checked = check_loaded(loaded)
        model = compile_model(checked)
        if settings.mixed_precision != "float32":
            model = _float32_outputs(keras, model, set(checked.graph.outputs))
        if settings.fused_batchnorm:
            use_fused_batchnorm(model)
        model.compile(
            optimizer=recipes.optimizer(keras, settings.optimizer),
            loss=recipes.loss(keras, loss_name(loaded, settings), settings),
            metrics=[recipes.metric(keras, name, data_spec(loaded).labels) for name in settings.metrics],
            jit_compile=settings.jit_compile,
        )
        model.optimizer.build(model.trainable_variables)
    if settings.optimizer.use_ema:
        _average_applied_once(model.optimizer)
    return model


def _average_applied_once(optimizer: Any) -> None:
    """Stop `model.fit` from putting the weights' average into the model at the end of every call.

    layerspec calls `fit` once per epoch (for its checkpoints and signals), and Keras's `fit` ends by overwriting
    the weights with their moving average: each epoch would restart from the average. The average is kept up to
    date every step all the same, and `apply_weight_average` puts it into the model once, after the last epoch.
    Only this instance changes; its class, and so the saved optimizer, stays Keras's own.
    """
    optimizer.finalize_variable_values = lambda var_list: None


def apply_weight_average(model: Any) -> None:
    """Overwrite the trainable weights with the optimizer's moving average (what Keras's own `fit` would end with)."""
    optimizer = model.optimizer
    type(optimizer).finalize_variable_values(optimizer, model.trainable_weights)


def _float32_outputs(keras: Any, model: Any, outputs: set[str]) -> Any:
    """The model again with its output layers computing in float32 (the others keep the mixed policy).

    A softmax computed in bfloat16 or float16 rounds small probabilities to exactly 0; the cross-entropy of such an
    example is then clipped and has no gradient, and training stalls with a share of the examples wrong (seen
    with bfloat16 on SIGNS: 79 % instead of 97 %). Keras's mixed-precision guide keeps the last layer in float32.
    """

    def clone(layer: Any) -> Any:
        if layer.name not in outputs:
            return layer.__class__.from_config(layer.get_config())
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    return keras.models.clone_model(model, clone_function=clone)


# ------------------------------------------------------------------------------------------------ input pipeline


# Fixed tf.data parallelism (see _Pipeline): one map call per core prepares examples (at least two, so that a
# small machine overlaps them), and two prefetched batches hide a step's worth of preparation.
PARALLEL_CALLS = max(2, os.cpu_count() or 1)
PREFETCH_BATCHES = 2


@dataclass
class _Pipeline:
    """tf.data input: the split is held once as in-memory tensors (the cache); each epoch is a fresh index order.

    The order of epoch e (and every random augmentation in it) is drawn from (seeds, e) alone, so a resumed run
    sees exactly the batches an uninterrupted one would. Examples are gathered from the cached tensors, batched
    and prefetched.

    tf.data's autotuner is off and the parallelism fixed. With it on, each epoch's iterator starts a tuning thread,
    and destroying the iterator at the end of the epoch waits for that thread's sleep to run out: up to 2 s of
    idle time at random epoch starts on a 2-core machine (which `model.fit` on NumPy arrays pays).
    """

    x: Any
    y: Any
    batch_size: int
    seeds: tuple[int, ...]
    augment: AugmentSpec | None = None

    @classmethod
    def from_split(cls, split: Split, labels: str, classes: int, batch_size: int, seeds: tuple[int, ...]) -> _Pipeline:
        import tensorflow as tf

        y = np.eye(classes, dtype=np.float32)[split.y] if labels == "one_hot" else split.y
        with tf.device("/cpu:0"):
            return cls(tf.constant(split.x), tf.constant(y), batch_size, seeds)

    def epoch(self, epoch: int | None) -> Any:
        import tensorflow as tf

        count = int(self.x.shape[0])
        if epoch is None:
            return self._batched(tf.data.Dataset.from_tensor_slices(np.arange(count)))
        rng = np.random.default_rng([*self.seeds, epoch])
        order = rng.permutation(count)
        if self.augment is None or not self.augment.active:
            return self._batched(tf.data.Dataset.from_tensor_slices(order))
        example_seeds = rng.integers(0, 2**31 - 1, size=(count, 2), dtype=np.int64)
        x, y, augment = self.x, self.y, self.augment
        return (
            tf.data.Dataset.from_tensor_slices((order, example_seeds))
            .map(lambda i, seed: (_augmented(tf.gather(x, i), seed, augment), tf.gather(y, i)), PARALLEL_CALLS)
            .batch(self.batch_size)
            .apply(_prefetched_untuned)
        )

    def _batched(self, order: Any) -> Any:
        import tensorflow as tf

        x, y = self.x, self.y
        return (
            order.batch(self.batch_size)
            .map(lambda index: (tf.gather(x, index), tf.gather(y, index)), num_parallel_calls=PARALLEL_CALLS)
            .apply(_prefetched_untuned)
        )


def _prefetched_untuned(dataset: Any) -> Any:
    """The pipeline's last step: prefetch a fixed number of batches, with tf.data's autotuner off."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(PREFETCH_BATCHES).with_options(options)


def _augmented(image: Any, seed: Any, augment: AugmentSpec) -> Any:
    """One image changed as `augment` says, with stateless random ops (same seed, same image)."""
    import tensorflow as tf

    if augment.flip == "horizontal":
        image = tf.image.stateless_random_flip_left_right(image, seed)
    if augment.translate > 0:
        t = augment.translate
        padded = tf.pad(image, [[t, t], [t, t], [0, 0]], mode="REFLECT")
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seed + 1)
    if augment.brightness > 0:
        image = tf.image.stateless_random_brightness(image, augment.brightness, seed + 2)
    if augment.rotate > 0 or augment.zoom > 0:
        image = _rotated_and_zoomed(image, seed + 3, augment.rotate, augment.zoom)
    return image


def _rotated_and_zoomed(image: Any, seed: Any, rotate: float, zoom: float) -> Any:
    """A random rotation and scaling about the image centre, bilinear, with reflected edges."""
    import tensorflow as tf

    angle = tf.random.stateless_uniform([], seed, -rotate, rotate) * 2 * math.pi
    scale = tf.random.stateless_uniform([], seed + 1, 1 - zoom, 1 + zoom)
    height, width = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    # Each output pixel (x, y) samples the input at centre + A (x - cx, y - cy), A a rotation divided by the scale.
    a00, a01 = tf.cos(angle) / scale, -tf.sin(angle) / scale
    a10, a11 = tf.sin(angle) / scale, tf.cos(angle) / scale
    transform = tf.stack([a00, a01, cx - a00 * cx - a01 * cy, a10, a11, cy - a10 * cx - a11 * cy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis],
        transforms=transform[tf.newaxis],
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )[0]


# ------------------------------------------------------------------------------------------------ history
# (the learning-rate schedules, and the rule for a monitored figure's improvement, are in layerspec.recipes)


def best_epoch(history: list[dict[str, Any]], monitor: str) -> int:
    """Index of the best epoch (the earliest one on ties)."""
    best = 0
    for i, record in enumerate(history):
        if better(record[monitor], history[best][monitor], monitor):
            best = i
    return best


# ------------------------------------------------------------------------------------------------ checkpoints


def save_checkpoint(path: Path, model: Any, state: dict[str, Any]) -> None:
    """Model and optimizer variables (seed states included) plus the JSON state, in one atomically written file."""
    arrays = {f"model_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays |= {f"optimizer_{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    arrays["state"] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)  # type: ignore[arg-type]


def load_checkpoint(path: Path, model: Any) -> CheckpointState:
    """Restore the variables saved by `save_checkpoint` into `model`; returns the saved state."""
    state = read_checkpoint_state(path)
    with _archive(path) as archive:
        _assign(model.variables, archive, "model", path)
        _assign(model.optimizer.variables, archive, "optimizer", path)
    return state


def read_checkpoint_state(path: Path) -> CheckpointState:
    """The JSON state of a checkpoint, checked (DataError if the file is not one layerspec saved)."""
    with _archive(path) as archive:
        raw = archive["state"]
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise DataError(str(path), f"its state is a {raw.dtype} array of shape {raw.shape}, not JSON bytes")
        text = raw.tobytes().decode("utf-8")
    return checkpoint_state(text, path)


@contextmanager
def _archive(path: Path) -> Iterator[Any]:
    """An .npz file opened without pickles; any way it cannot be read is bad data naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            yield archive
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(str(path), f"cannot read the checkpoint: {type(exc).__name__}: {exc}") from None


def _assign(variables: list[Any], archive: Any, prefix: str, path: Path) -> None:
    """Put the arrays `<prefix>_0`, `<prefix>_1`, ... into `variables`, after checking count, shape and type."""
    count = sum(1 for name in archive.files if name.startswith(prefix + "_"))
    if count != len(variables):
        message = f"the checkpoint holds {count} {prefix} arrays, the model has {len(variables)} such variables"
        raise DataError(str(path), message + ": train afresh without --resume")
    values = [archive[f"{prefix}_{i}"] for i in range(len(variables))]
    for variable, value in zip(variables, values, strict=True):
        if tuple(value.shape) != tuple(variable.shape) or value.dtype.kind not in "biuf":
            raise DataError(
                str(path),
                f"{variable.path}: the checkpoint holds a {value.dtype} array of shape {tuple(value.shape)}, the "
                f"model a variable of shape {tuple(variable.shape)}: train afresh without --resume",
            )
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


# ------------------------------------------------------------------------------------------------ callbacks


class _StopNow(Exception):
    """Raised by the batch hook to leave `model.fit` at a batch boundary, before the next batch runs."""


def _callbacks(keras: Any, stop: _StopRequest, progress: _Progress, steps: int, epoch: int, total: int) -> list[Any]:
    class StopAtBoundary(keras.callbacks.Callback):  # type: ignore[misc]
        """Leaves fit before the next batch once a signal came in.

        It has no batch-end hook on purpose: Keras then dispatches batch ends asynchronously instead of waiting
        for every step's figures (which costs speed).
        """

        def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if batch == 0 and os.environ.get(SIGNAL_AT_EPOCH_ENV) == str(epoch + 1):
                os.kill(os.getpid(), signal.SIGINT)
            if stop.signum is not None:
                stop.epoch, stop.batch = epoch + 1, batch
                raise _StopNow

    class ProgressBar(keras.callbacks.Callback):  # type: ignore[misc]
        """The bar on a terminal; it only draws, so Keras may call it from its callback thread."""

        async_safe = True

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            done = int(20 * (batch + 1) / steps)
            figures = "  ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items())
            progress.write(
                f"\repoch {epoch + 1}/{total} [{'=' * done}{' ' * (20 - done)}] {batch + 1}/{steps}  {figures}"
            )

    return [StopAtBoundary(), *([ProgressBar()] if progress.bar else [])]


@contextmanager
def stop_on_signals(stop: _StopRequest) -> Iterator[None]:
    """SIGINT and SIGTERM request a stop at the next batch boundary instead of killing the process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop.signum = signum

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# ------------------------------------------------------------------------------------------------ the loop


@dataclass
class _Run:
    run_dir: Path
    loaded: LoadedSpec
    settings: TrainSpec
    dataset: Dataset
    model: Any
    progress: _Progress
    replicas: int = 1
    precision: PrecisionChoice | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def monitor(self) -> str:
        return self.settings.keep.monitor

    def state(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "epoch": len(self.history),
            "history": self.history,
            "seed": self.settings.seed,
            "spec_sha256": self.loaded.sha256,
            "stopped_early": self.stopped_early,
        }


def _fit_epoch(run: _Run, train: _Pipeline, val: Any, stop: _StopRequest, epoch: int) -> dict[str, Any] | None:
    """One epoch; None when a signal stopped it (the partial epoch is discarded)."""
    from layerspec.compile import keras_module

    keras = keras_module()
    settings, total = run.settings, run.settings.epochs
    rate = learning_rate(settings.schedule, settings.optimizer.learning_rate, epoch, total, run.history)
    run.model.optimizer.learning_rate.assign(rate)
    steps = math.ceil(len(run.dataset.train) / settings.batch_size)
    started = time.perf_counter()
    try:
        fitted = run.model.fit(
            train.epoch(epoch),
            epochs=1,
            verbose=0,
            shuffle=False,  # the pipeline already shuffled this epoch, by (seed, epoch)
            validation_data=val,
            callbacks=_callbacks(keras, stop, run.progress, steps, epoch, total),
        )
    except _StopNow:
        return None
    seconds = time.perf_counter() - started
    logs = {key: float(values[-1]) for key, values in sorted(fitted.history.items(), key=_log_order)}
    return {"epoch": epoch + 1, **logs, "learning_rate": rate, "seconds": seconds}


def _log_order(item: tuple[str, Any]) -> tuple[bool, bool, str]:
    """loss, metrics, then val_loss, val_metrics (the order Keras prints them in)."""
    key = item[0]
    return key.startswith("val_"), key.removeprefix("val_") != "loss", key


def _epoch_line(record: dict[str, Any], total: int, best: bool) -> str:
    skip = {"epoch", "learning_rate", "seconds"}
    figures = "  ".join(f"{k} {v:.4f}" for k, v in record.items() if k not in skip)
    mark = "  *" if best else ""
    rate, seconds = record["learning_rate"], record["seconds"]
    return f"epoch {record['epoch']}/{total}  {figures}  lr {rate:.2e}  {seconds:.1f}s{mark}\n"


def _after_epoch(run: _Run, record: dict[str, Any]) -> bool:
    """Record the epoch, checkpoint it, and say whether to stop early."""
    run.history.append(record)
    keep_best = run.settings.keep.weights == "best"
    is_best = keep_best and best_epoch(run.history, run.monitor) == len(run.history) - 1
    if is_best:
        _save_weights(run.run_dir / BEST_WEIGHTS, run.model)
    save_checkpoint(run.run_dir / CHECKPOINT, run.model, run.state())
    prefix = "\r" + " " * 100 + "\r" if run.progress.bar else ""
    run.progress.write(prefix + _epoch_line(record, run.settings.epochs, is_best))
    stopping = run.settings.early_stopping
    if stopping is None:
        return False
    values = [r[stopping.monitor] for r in run.history]
    waited = epochs_without_improvement(values, stopping.monitor, stopping.min_delta)
    return waited > 0 and waited >= stopping.patience  # Keras's EarlyStopping rule


def _save_weights(path: Path, model: Any) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, *[np.asarray(v.numpy()) for v in model.weights])


def _load_weights(path: Path, model: Any) -> None:
    with _archive(path) as archive:
        _assign(model.weights, archive, "arr", path)


def _loop(run: _Run, start: int) -> None:
    spec = data_spec(run.loaded)
    classes = len(run.dataset.class_names)
    seeds = (spec.shuffle_seed, run.settings.seed)
    train = _Pipeline.from_split(run.dataset.train, spec.labels, classes, run.settings.batch_size, seeds)
    train.augment = run.settings.augment
    val_split = run.dataset.val
    val = None
    if val_split is not None and len(val_split):
        val = _Pipeline.from_split(val_split, spec.labels, classes, run.settings.batch_size, ()).epoch(None)
    stop = _StopRequest()
    with stop_on_signals(stop):
        for epoch in range(start, run.settings.epochs):
            record = _fit_epoch(run, train, val, stop, epoch)
            if record is None:
                _interrupted(run, stop)
            if _after_epoch(run, record):  # type: ignore[arg-type]
                run.stopped_early = True
                save_checkpoint(run.run_dir / CHECKPOINT, run.model, run.state())
                break
            if stop.signum is not None:  # came in after the last batch (during validation): epoch kept
                _interrupted(run, stop)


def _interrupted(run: _Run, stop: _StopRequest) -> None:
    """Save the state of the last complete epoch (the one --resume continues from) and stop with exit code 130."""
    checkpoint = run.run_dir / CHECKPOINT
    if not checkpoint.is_file():
        raise Interrupted(str(run.run_dir), "interrupted before a checkpoint existed")
    state = run.state() | {"interrupted": {"signal": stop.signum, "epoch": stop.epoch, "batch": stop.batch}}
    RunFolder(run.run_dir).write(folder.INTERRUPTED, CheckpointState.model_validate(state))
    name = signal.Signals(stop.signum).name if stop.signum is not None else "signal"
    where = f"during epoch {stop.epoch} (after batch {stop.batch})" if stop.epoch else f"after epoch {len(run.history)}"
    raise Interrupted(
        str(checkpoint),
        f"{name} {where}: stopped; checkpoint of epoch {len(run.history)} saved; continue with "
        f"`layerspec train {run.run_dir} --resume`",
    )


# ------------------------------------------------------------------------------------------------ entry point


def train_run(
    run_dir: Path,
    loaded: LoadedSpec,
    options: TrainOptions,
    progress: TextIO | None = None,
    dataset: Dataset | None = None,
) -> dict[str, Any]:
    """Train the spec into `run_dir` and return the `--json` payload (run_dir, model, history, metrics, ...).

    `dataset` is the spec's data when the caller already loaded (and so checked) it.
    """
    started = datetime.now(UTC)
    settings, history = _settings_and_history(run_dir, loaded, options)
    root = (options.data_dir or data_root(loaded)).resolve()
    check_loaded(loaded)  # every rule that needs only the spec, before any data is read
    dataset = dataset if dataset is not None else load_dataset(loaded, root)
    check_training_data(loaded, settings, dataset.counts())
    prepare_runtime(settings)
    out_dir = run_dir if is_chief() else Path(_scratch_dir())
    strategy = make_strategy(settings, loaded)  # before anything lists devices: a multi-worker strategy must come first
    precision = resolve_precision(settings)
    settings = settings.model_copy(update={"mixed_precision": precision.chosen})
    model = build_model(loaded, settings, strategy)
    run = _Run(out_dir, loaded, settings, dataset, model, _Progress(progress), strategy.num_replicas_in_sync, precision)
    if history is not None:
        state = load_checkpoint(out_dir / CHECKPOINT, model)
        run.history = [epoch.record() for epoch in state.history]
        run.stopped_early = state.stopped_early
    if not options.resume:
        save_checkpoint(out_dir / CHECKPOINT, model, run.state())  # epoch 0: what an early interrupt resumes from
    if not run.stopped_early:
        _loop(run, len(run.history))
    return _finish(run, options, started, root)


def _scratch_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="layerspec-worker-")


def _settings_and_history(
    run_dir: Path, loaded: LoadedSpec, options: TrainOptions
) -> tuple[TrainSpec, list[dict[str, Any]] | None]:
    """Settings with overrides; on --resume, the checkpoint's seed and a check that the spec did not change."""
    if not options.resume:
        return train_settings(loaded, options), None
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise UsageError(f"nothing to resume: {path} does not exist (train without --resume first)", str(run_dir))
    state = read_checkpoint_state(path)
    if state.spec_sha256 != loaded.sha256:
        raise UsageError("the spec changed since the checkpoint was saved; train afresh without --resume", str(path))
    if options.seed is not None and options.seed != state.seed:
        raise UsageError(f"the checkpoint was trained with seed {state.seed}, not {options.seed}", str(path))
    settings = train_settings(loaded, TrainOptions(epochs=options.epochs, seed=state.seed))
    history = [epoch.record() for epoch in state.history]
    _check_resumed_figures(history, settings, path)
    return settings, history


def _check_resumed_figures(history: list[dict[str, Any]], settings: TrainSpec, path: Path) -> None:
    """Every figure the rest of training looks at is in every epoch of the checkpoint's history."""
    needed = {"loss", "learning_rate", "seconds"}
    if settings.keep.weights == "best":
        needed.add(settings.keep.monitor)
    if settings.early_stopping is not None:
        needed.add(settings.early_stopping.monitor)
    if settings.schedule.type == "reduce_on_plateau":
        needed.add(settings.schedule.monitor)
    for record in history:
        missing = sorted(key for key in needed if record.get(key) is None)
        if missing:
            raise DataError(str(path), f"epoch {record['epoch']} of its history has no {', '.join(missing)}")


def _finish(run: _Run, options: TrainOptions, started: datetime, root: Path) -> dict[str, Any]:
    kept_epoch, kept_reason = _keep_weights(run)
    if run.settings.recalibrate_batchnorm:
        kept_reason += _recalibrate(run)
    history = {"epochs": run.history, "kept_epoch": kept_epoch, "kept_reason": kept_reason}
    metrics = _test_metrics(run)
    model_path = run.run_dir / "model.keras"
    standard_batchnorm(run.model)  # the file names Keras's own layers, whatever trained them
    with atomic_path(model_path) as tmp:
        run.model.save(tmp)
    _write_records(run, history, metrics, _train_record(run, options, started, root))
    if is_chief():
        set_current_run(run.run_dir)
    return {
        "run_dir": str(run.run_dir),
        "model": str(model_path),
        "history": history,
        "metrics": metrics,
        "epochs": len(run.history),
        "epoch_seconds": [r["seconds"] for r in run.history],
    }


def _write_records(run: _Run, history: dict[str, Any], metrics: dict[str, Any], record: dict[str, Any]) -> None:
    """history.json, history.csv, metrics.json (with a test split) and train.json last: it marks the end."""
    folder_ = RunFolder(run.run_dir)
    spec = {"spec_sha256": run.loaded.sha256}  # the results name the spec they came from
    folder_.write(folder.HISTORY, History.model_validate(history | spec))
    folder_.write_text(folder.HISTORY_CSV, _history_csv(run.history))
    if metrics["test_accuracy"] is not None:
        folder_.write(folder.METRICS, Metrics.model_validate(metrics | spec))
    folder_.write(folder.TRAIN, TrainInfo.model_validate(record | spec))


def recalibrate_batchnorm(model: Any, x: np.ndarray, chunk: int = 128) -> int:
    """Set each BatchNormalization layer's moving statistics to their average over `x` ("precise BN").

    During training the moving averages (momentum 0.99: about the last 100 steps) mix statistics of weights that
    have since changed; on a small dataset that lag costs several points of accuracy at inference. Running the
    data through the model in training mode with momentum (k-1)/k at the k-th chunk makes each moving value the
    plain mean of the chunks' batch statistics. Returns the number of layers recalibrated.
    """
    from layerspec.compile import keras_module

    keras = keras_module()
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for k, start in enumerate(range(0, len(x), chunk), start=1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            model(x[start : start + chunk], training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
    return len(layers)


def _recalibrate(run: _Run) -> str:
    """Precise BN on the kept weights; the validation figures are measured again with the new statistics."""
    count = recalibrate_batchnorm(run.model, run.dataset.train.x)
    note = f"; moving statistics of {count} BatchNormalization layers recomputed on the training split"
    val = run.dataset.val
    if count and val is not None and len(val):
        figures = classification_metrics(predict_probabilities(run.model, val.x), val, run.dataset.class_names)
        note += f" (then val_loss {figures['test_loss']:.4f}, val_accuracy {figures['test_accuracy']:.4f})"
    return note


def _keep_weights(run: _Run) -> tuple[int, str]:
    last = len(run.history)
    stopped = f" (stopped early after epoch {last})" if run.stopped_early else ""
    if run.settings.optimizer.use_ema and run.history:
        apply_weight_average(run.model)
        momentum = run.settings.optimizer.ema_momentum
        return last, f"moving average of the weights (momentum {momentum}) at the last epoch" + stopped
    if run.settings.keep.weights == "last" or not run.history:
        return last, "last epoch" + stopped
    index = best_epoch(run.history, run.monitor)
    _load_weights(run.run_dir / BEST_WEIGHTS, run.model)
    value = run.history[index][run.monitor]
    return index + 1, f"best {run.monitor} ({value:.4f}) at epoch {index + 1} of {last}{stopped}"


def _test_metrics(run: _Run) -> dict[str, Any]:
    test = run.dataset.test
    if test is None or not len(test):
        return {"test_loss": None, "test_accuracy": None}
    probabilities = predict_probabilities(run.model, test.x, run.settings.batch_size)
    return classification_metrics(probabilities, test, run.dataset.class_names)


def _history_csv(history: list[dict[str, Any]]) -> str:
    extra = sorted({k for r in history for k in r} - set(HISTORY_COLUMNS))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS + extra, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return buffer.getvalue()


def _train_record(run: _Run, options: TrainOptions, started: datetime, root: Path) -> dict[str, Any]:
    import tensorflow as tf

    return {
        "command": options.command,
        "seed": run.settings.seed,
        "settings": run.settings.model_dump(mode="json"),
        "data": data_spec(run.loaded).model_dump(mode="json"),
        "data_dir": str(root),
        "counts": run.dataset.counts(),
        "class_names": run.dataset.class_names,
        "epochs_completed": len(run.history),
        "stopped_early": run.stopped_early,
        "resumed": options.resume,
        "devices": [d.name for d in tf.config.list_logical_devices()],
        "replicas": run.replicas,
        "precision": None if run.precision is None else run.precision.model_dump(mode="json"),
        "cpu": this_cpu().model_dump(mode="json"),
        "jit_compiled": bool(getattr(run.model, "jit_compile", False)),  # Keras falls back when a layer cannot
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
    }
