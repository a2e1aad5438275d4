"""Training with TensorFlow's fused batch normalisation in place of Keras's composed one (imports TensorFlow).

Keras 3 computes a BatchNormalization layer in training as about ten separate tensor operations (casts to
float32, two reductions for the moments, the normalisation, and as many again for the gradient). TensorFlow's
fused kernel does the same arithmetic in one forward and one backward operation, which oneDNN runs in the input's
own dtype: on the reference network that makes a float32 training step about a quarter faster and a bfloat16 one
more than twice as fast. The layer keeps Keras's weights, arguments and update rule (moving statistics are
updated with the biased batch variance, as Keras does), and runs Keras's own code outside training and wherever
the fused kernel does not apply (a mask, renormalisation, synchronised statistics, an axis other than the last).

Only the model being trained is changed, and only for its training: `standard_batchnorm` gives the layers back
Keras's own class before the model is saved, so a model.keras file never needs layerspec to be loaded.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from layerspec.compile import keras_module


@cache
def fused_batchnorm_class() -> type:
    """keras.layers.BatchNormalization whose training step uses tf.nn's fused kernel (defined on first use)."""
    keras = keras_module()
    import tensorflow as tf

    class FusedBatchNormalization(keras.layers.BatchNormalization):  # type: ignore[misc,name-defined]
        def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
            if not (training and self.trainable) or mask is not None or not self._fusable(len(inputs.shape)):
                return super().call(inputs, training=training, mask=mask)
            channels = int(inputs.shape[-1])
            # The kernel takes NHWC; any rank with the channels last reduces over the same elements as 4-D.
            x = tf.reshape(inputs, [tf.shape(inputs)[0], -1, 1, channels]) if len(inputs.shape) != 4 else inputs
            gamma = tf.convert_to_tensor(self.gamma) if self.scale else tf.ones([channels])
            beta = tf.convert_to_tensor(self.beta) if self.center else tf.zeros([channels])
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True, data_format="NHWC"
            )
            # The kernel returns the unbiased (n-1) batch variance; Keras averages the biased one.
            count = tf.cast(tf.size(x) // channels, tf.float32)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
            y = tf.reshape(y, tf.shape(inputs)) if len(inputs.shape) != 4 else y
            return tf.cast(y, self.compute_dtype)

        def _fusable(self, rank: int) -> bool:
            axes = self.axis if isinstance(self.axis, list | tuple) else [self.axis]
            last = len(axes) == 1 and axes[0] in (-1, rank - 1)
            return last and rank >= 2 and not self.renorm and not self.synchronized

    return FusedBatchNormalization


def use_fused_batchnorm(model: Any) -> int:
    """Make each of the model's BatchNormalization layers train through the fused kernel; returns how many.

    The layer objects stay (weights, trackers and the compiled graph all refer to them); only their class
    changes, to a subclass that adds no state, so nothing is rebuilt or re-initialised.
    """
    keras = keras_module()
    fused = fused_batchnorm_class()
    layers = [layer for layer in model.layers if type(layer) is keras.layers.BatchNormalization]
    for layer in layers:
        layer.__class__ = fused
    return len(layers)


def standard_batchnorm(model: Any) -> None:
    """Give the layers back Keras's own class, so that the saved model.keras names keras.layers.BatchNormalization."""
    keras = keras_module()
    fused = fused_batchnorm_class()
    for layer in model.layers:
        if type(layer) is fused:
            layer.__class__ = keras.layers.BatchNormalization
