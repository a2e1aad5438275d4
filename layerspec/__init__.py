"""layerspec: declarative model specs for Keras.

The package reads like its pipeline: spec (YAML, schema, blocks) -> graph -> shapes -> compile (Keras) ->
train -> report. Only the compile and train stages import TensorFlow.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collection_paused_while_importing() -> Iterator[None]:
    """The collector paused while modules are imported, then resumed if it was on: building the layer registry's
    validators makes many long-lived objects, and the collections they set off free nothing (about a tenth of the
    import's time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


with collection_paused_while_importing():
    from layerspec.hardware import use_onednn_by_default

__version__ = "0.1.0"

# Before anything imports TensorFlow: it reads TF_ENABLE_ONEDNN_OPTS once, when it is imported.
use_onednn_by_default()
