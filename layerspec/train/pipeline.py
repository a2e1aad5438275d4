"""The tf.data input pipeline and its augmentation (the order and every random change drawn from (seed, epoch))."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from layerspec.data import Split
from layerspec.spec.train import AugmentSpec

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

        # one_hot: class ids made vectors; sparse ids and `values` targets are fed as stored.
        y = np.eye(classes, dtype=np.float32)[split.y] if labels == "one_hot" else split.y
        with tf.device("/cpu:0"):
            # Several inputs stay a dict of tensors by input name, which Keras matches to the model's inputs.
            x = tf.nest.map_structure(tf.constant, split.x)
            return cls(x, tf.constant(y), batch_size, seeds)

    def epoch(self, epoch: int | None) -> Any:
        import tensorflow as tf

        count = int(self.y.shape[0])
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
            .map(lambda index: (_gather(x, index), tf.gather(y, index)), num_parallel_calls=PARALLEL_CALLS)
            .apply(_prefetched_untuned)
        )


def _gather(x: Any, index: Any) -> Any:
    import tensorflow as tf

    return tf.nest.map_structure(lambda tensor: tf.gather(tensor, index), x)


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
