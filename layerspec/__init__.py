"""layerspec: declarative model specs for Keras.

The package reads like its pipeline: spec (YAML, schema, blocks) -> graph -> shapes -> compile (Keras) ->
train -> report. Only the compile and train stages import TensorFlow.
"""

import gc

# The collector paused while the package is imported: building the layer registry's validators makes many
# long-lived objects, and the collections they set off free nothing (about a tenth of the import's time). It is
# resumed at once, as it was.
_collecting = gc.isenabled()
gc.disable()
try:
    from layerspec.hardware import use_onednn_by_default
finally:
    if _collecting:
        gc.enable()

__version__ = "0.1.0"

# Before anything imports TensorFlow: it reads TF_ENABLE_ONEDNN_OPTS once, when it is imported.
use_onednn_by_default()
