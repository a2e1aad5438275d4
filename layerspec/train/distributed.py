"""Multi-worker training: `strategy: {type: multi_worker}` over the cluster that TF_CONFIG names.

Keras's `model.fit` does not run under `MultiWorkerMirroredStrategy` with TensorFlow 2.21 (it fails to convert the
per-replica values), so the epochs of a multi-worker training are layerspec's own: every worker draws the same
epoch order (from (seed, epoch)), takes its share of each global batch, and runs the training step under
`strategy.run`; the optimizer sums the replicas' gradients, each scaled to the global batch, so every worker ends
every step with the same weights as one process training the same global batches. BatchNormalization layers are
synchronised: they normalise with the whole global batch's statistics, as one process would.

The strategy must exist before TensorFlow runs its first operation (collective ops are configured at start-up), so
it is created once per process (`multi_worker_strategy`), by `prepare_runtime`, and reused. Collectives time out
(`LAYERSPEC_COLLECTIVE_TIMEOUT`, seconds) instead of waiting forever for a worker that died.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from layerspec.errors import Diagnostic, LayerspecError, UsageError
from layerspec.run import Epoch

EXIT_WORKER_LOST = 4
TIMEOUT_ENV = "LAYERSPEC_COLLECTIVE_TIMEOUT"
DEFAULT_TIMEOUT_S = 120
_TASK = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")

_strategy: Any = None


class WorkerLost(LayerspecError):
    """A worker of a multi-worker training stopped answering (exit code 4); the last complete epoch's checkpoint
    is kept, and restarting every worker with --resume continues from it."""

    keeps_checkpoint = True  # a new run it stops keeps its checkpoint (layerspec.train.orchestrate)

    def __init__(self, path: str, message: str) -> None:
        super().__init__([Diagnostic(path, 0, 0, message)], EXIT_WORKER_LOST)


@dataclass(frozen=True)
class Cluster:
    """The workers TF_CONFIG names and which of them this process is."""

    workers: tuple[str, ...]
    task_type: str
    index: int
    has_chief: bool = False

    @property
    def count(self) -> int:
        return len(self.workers)

    @property
    def rank(self) -> int:
        """This worker's place among all tasks (the chief, if there is one, first)."""
        return self.index + (1 if self.task_type == "worker" and self.has_chief else 0)


def cluster() -> Cluster:
    """The cluster from TF_CONFIG (one local worker without it); UsageError when TF_CONFIG is malformed."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return Cluster(("localhost",), "worker", 0)
    try:
        config = json.loads(text)
        spec, task = config["cluster"], config["task"]
        chief, workers = list(spec.get("chief", [])), list(spec.get("worker", []))
        kind, index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"TF_CONFIG is not a cluster description ({type(exc).__name__}: {exc}): expected "
            '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": N}}'
        ) from None
    everyone = tuple(str(w) for w in chief + workers)
    if not everyone or kind not in ("chief", "worker") or not 0 <= index < len(chief if kind == "chief" else workers):
        raise UsageError(f"TF_CONFIG: task {kind} {index} is not one of the cluster's tasks ({', '.join(everyone)})")
    return Cluster(everyone, kind, index, has_chief=bool(chief))


def collective_timeout() -> int:
    text = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{TIMEOUT_ENV}={text!r}: give the collectives' timeout as a whole number of seconds")
    return int(text)


def multi_worker_strategy() -> Any:
    """The process's MultiWorkerMirroredStrategy, created on first use (before any TensorFlow operation)."""
    global _strategy
    if _strategy is None:
        import tensorflow as tf

        cluster()  # a malformed TF_CONFIG is the user's to fix, not TensorFlow's to crash on
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout())
        try:
            _strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except RuntimeError as exc:
            raise UsageError(
                f"the multi-worker strategy could not start: {exc} (it must be created before TensorFlow runs an "
                "operation: train in a fresh process)"
            ) from None
    return _strategy


def lost_worker(exc: Exception, path: str) -> WorkerLost:
    """The error to report for a collective that failed: which worker, and what to do."""
    here = cluster()
    tasks = {f"{job} {task}" for job, task in _TASK.findall(str(exc))} - {f"{here.task_type} {here.index}"}
    who = ", ".join(sorted(tasks)) if tasks else "another worker"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    first = next((line for line in lines if re.search(r"unhealthy|heartbeat|timed out|deadline", line, re.I)), lines[0])
    return WorkerLost(
        path,
        f"{who} of the cluster ({', '.join(here.workers)}) stopped answering ({type(exc).__name__}: {first[:300]}); "
        "training stopped with the checkpoint of the last complete epoch: start every worker again with --resume",
    )


# ------------------------------------------------------------------------------------------------ the epochs


def worker_share(count: int, batch_size: int, workers: int, rank: int) -> list[np.ndarray]:
    """This worker's positions in each global batch of an epoch's order of `count` examples (the same order on
    every worker).

    A global batch is split as evenly as it goes (the shares differ by at most one example); a last batch with
    fewer examples than workers is dropped, since every worker must take part in every step.
    """
    shares = []
    for start in range(0, count, batch_size):
        batch = np.arange(start, min(start + batch_size, count))
        if len(batch) < workers:
            break
        shares.append(np.array_split(batch, workers)[rank])
    return shares


@dataclass
class _Steps:
    """The compiled training step and validation pass of one model."""

    train: Any
    evaluate: Any
    mean: Any  # the mean of one number over the workers


_steps: dict[int, _Steps] = {}


def _loss_object(model: Any) -> Any:
    loss = model.loss
    return loss[0] if isinstance(loss, list | tuple) else loss


def _make_steps(model: Any, strategy: Any, one_hot: bool) -> _Steps:
    import tensorflow as tf

    loss_object = _loss_object(model)
    replicas = strategy.num_replicas_in_sync

    def correct(y: Any, prediction: Any) -> Any:
        truth = tf.argmax(y, axis=-1) if one_hot else tf.cast(tf.reshape(y, [-1]), tf.int64)
        return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(prediction, axis=-1), truth), tf.float32))

    def replica_step(x: Any, y: Any, global_count: Any, stopping: Any) -> tuple[Any, Any, Any]:
        with tf.GradientTape() as tape:
            prediction = model(x, training=True)
            per_example = tf.cast(loss_object.call(y, prediction), tf.float32)
            loss_sum = tf.reduce_sum(per_example)
            # The replicas' gradients are summed: each is scaled to the global batch.
            scaled = loss_sum / global_count
            if model.losses:
                scaled += tf.add_n([tf.cast(v, tf.float32) for v in model.losses]) / replicas
        gradients = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss_sum, correct(y, prediction), stopping

    def train_step(x: Any, y: Any, global_count: Any, stopping: Any) -> Any:
        values = strategy.run(replica_step, args=(x, y, global_count, stopping))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in values]

    def evaluate(x: Any, y: Any) -> Any:
        prediction = model(x, training=False)
        return tf.reduce_sum(tf.cast(loss_object.call(y, prediction), tf.float32)), correct(y, prediction)

    def mean(value: Any) -> Any:
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, strategy.run(lambda: tf.identity(value)), axis=None)

    return _Steps(tf.function(train_step), tf.function(evaluate), tf.function(mean))


def steps_for(model: Any, one_hot: bool) -> _Steps:
    key = id(model)
    if key not in _steps:
        _steps.clear()  # another model's steps (an earlier run in this process) are not needed again
        _synchronise_batchnorm(model)
        _steps[key] = _make_steps(model, multi_worker_strategy(), one_hot)
    return _steps[key]


def _synchronise_batchnorm(model: Any) -> None:
    """BatchNormalization normalises with the statistics of the whole global batch (all-reduced), so that its
    moving statistics, like every weight, are the same on every worker (and as one process would compute them)."""
    from layerspec.compile import keras_module

    keras = keras_module()
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True  # read at each call; the fused kernel steps aside for it


def fit_epoch(run: Any, train: Any, val_split: Any, stop: Any, epoch: int, rate: float) -> Epoch | None:
    """One epoch of the multi-worker loop; None when a signal stopped it (every worker stops at the same step)."""
    import tensorflow as tf

    from layerspec.data import data_spec
    from layerspec.train.interrupt import SIGNAL_AT_EPOCH_ENV

    one_hot = data_spec(run.loaded).labels == "one_hot"
    steps, here = steps_for(run.model, one_hot), cluster()
    examples, batch_size = int(train.x.shape[0]), run.settings.batch_size
    started = time.perf_counter()
    loss_sum = correct = count = 0.0
    shares = worker_share(examples, batch_size, here.count, here.rank)
    try:
        for number, (x, y) in enumerate(_batches(train, epoch, shares)):
            if number == 0 and os.environ.get(SIGNAL_AT_EPOCH_ENV) == str(epoch + 1):
                import signal

                os.kill(os.getpid(), signal.SIGINT)
            global_count = min(batch_size, examples - number * batch_size)
            stopping = tf.constant(0.0 if stop.signum is None else 1.0)
            batch_loss, batch_correct, stops = steps.train(x, y, tf.constant(float(global_count)), stopping)
            loss_sum, correct, count = (
                loss_sum + float(batch_loss),
                correct + float(batch_correct),
                count + global_count,
            )
            if float(stops) > 0:
                stop.epoch, stop.batch = epoch + 1, number + 1
                stop.signum = stop.signum or 2  # another worker was asked to stop: this one stops with it
                return None
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.InternalError, tf.errors.UnknownError) as exc:  # fmt: skip
        raise lost_worker(exc, str(run.run_dir)) from None
    record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss_sum / max(count, 1)}
    if "accuracy" in run.settings.metrics:
        record["accuracy"] = correct / max(count, 1)
    record |= _validation(steps, val_split, run, one_hot)
    try:  # every worker records the same history: the epoch's time is the workers' mean
        seconds = float(steps.mean(tf.constant(time.perf_counter() - started, tf.float64)))
    except tf.errors.OpError as exc:
        raise lost_worker(exc, str(run.run_dir)) from None
    return Epoch.model_validate(record | {"learning_rate": rate, "seconds": seconds})


def _batches(train: Any, epoch: int, shares: list[np.ndarray]) -> Any:
    """This worker's share of each global batch, drawn as one process's pipeline draws the epoch: the order and
    each example's augmentation from (seeds, epoch), so that the global batches are the same whoever trains them."""
    import tensorflow as tf

    from layerspec.train.pipeline import PARALLEL_CALLS, _augmented

    rng = np.random.default_rng([*train.seeds, epoch])
    order = rng.permutation(int(train.x.shape[0]))
    augment = train.augment
    if augment is None or not augment.active:
        for share in shares:
            yield tf.gather(train.x, order[share]), tf.gather(train.y, order[share])
        return
    seeds = rng.integers(0, 2**31 - 1, size=(len(order), 2), dtype=np.int64)
    if not shares:
        return
    positions = np.concatenate(shares)
    x = train.x
    examples = tf.data.Dataset.from_tensor_slices((order[positions], seeds[positions])).map(
        lambda i, seed: _augmented(tf.gather(x, i), seed, augment), PARALLEL_CALLS
    )
    # One pipeline for the epoch (not one per step: each would trace the augmentation again). Every share has the
    # same size but perhaps the last (of the last, smaller global batch).
    size, head = len(shares[0]), len(shares) - 1 if len(shares[-1]) != len(shares[0]) else len(shares)
    images = examples.take(head * size).batch(size)
    if head < len(shares):
        images = images.concatenate(examples.skip(head * size).batch(len(shares[-1])))
    for share, batch in zip(shares, images.prefetch(2), strict=True):
        yield batch, tf.gather(train.y, order[share])


def _validation(steps: _Steps, split: Any, run: Any, one_hot: bool) -> dict[str, float]:
    """The validation figures, computed by every worker on the whole split (with the same weights: the same)."""
    if split is None or not len(split):
        return {}
    classes = len(run.dataset.class_names)
    y_all = np.eye(classes, dtype=np.float32)[split.y] if one_hot else split.y
    loss_sum = correct = 0.0
    for start in range(0, len(split.x), 256):
        batch_loss, batch_correct = steps.evaluate(split.x[start : start + 256], y_all[start : start + 256])
        loss_sum, correct = loss_sum + float(batch_loss), correct + float(batch_correct)
    figures = {"val_loss": loss_sum / len(split.x)}
    if "accuracy" in run.settings.metrics:
        figures["val_accuracy"] = correct / len(split.x)
    return figures


def local_copy(run: Any) -> Any:
    """The trained model as an ordinary one (no strategy), for the evaluation and files at the end of training:
    Keras's `predict` and `save` are not meant for a model built under a multi-worker strategy."""
    import tensorflow as tf

    from layerspec.train.model import build_model

    outputs = set(run.model.output_names)
    plain = build_model(run.model, run.loaded, run.settings, tf.distribute.get_strategy(), outputs)
    for copy, trained in zip(plain.variables, run.model.variables, strict=True):
        copy.assign(np.asarray(trained.numpy()))
    for copy, trained in zip(plain.optimizer.variables, run.model.optimizer.variables, strict=False):
        if tuple(copy.shape) == tuple(trained.shape):
            copy.assign(np.asarray(trained.numpy()))
    return plain
