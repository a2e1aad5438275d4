"""The process and machine training runs on: thread pools and seeds, precision, distribution strategy, devices."""

from __future__ import annotations

import json
import os
from typing import Any

from layerspec.errors import SpecError
from layerspec.hardware import PrecisionChoice, choose_precision, this_cpu
from layerspec.spec import LoadedSpec
from layerspec.spec.train import TrainSpec


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
    if settings.strategy.type == "multi_worker":
        from layerspec.train.distributed import multi_worker_strategy

        multi_worker_strategy()  # collective ops are configured at start-up: before the first operation (the seed)
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
        from layerspec.train.distributed import multi_worker_strategy

        return multi_worker_strategy()
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
