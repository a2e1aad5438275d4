"""layerspec: declarative model specs for Keras.

The package reads like its pipeline: spec (YAML, schema, blocks) -> graph -> shapes -> compile (Keras) ->
train -> report. Only the compile and train stages import TensorFlow.
"""

__version__ = "0.1.0"
