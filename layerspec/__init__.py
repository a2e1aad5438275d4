"""layerspec: declarative model specs for Keras.

The package reads like its pipeline: spec (YAML, schema, blocks) -> graph -> shapes -> compile (Keras) ->
train -> report. Only the compile and train stages import TensorFlow.
"""

from layerspec.hardware import use_onednn_by_default

__version__ = "0.1.0"

# Before anything imports TensorFlow: it reads TF_ENABLE_ONEDNN_OPTS once, when it is imported.
use_onednn_by_default()
