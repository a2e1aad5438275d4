"""The mask rules of the layer registry against Keras: which outputs carry a mask, and which layers lose one.

Every registered type's contract examples are built by Keras behind a `Masking` layer (so a mask reaches them);
the outputs that carry a mask must be those `output_masks` names, and a type whose `masking` is "refuse" must be
one Keras warns about (it drops the mask). Mask makers (an Embedding with `mask_zero`) are built on plain inputs.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from layerspec.compile import keras_layer
from layerspec.layers import REGISTRY
from layerspec.layers.base import Example

pytestmark = [pytest.mark.keras, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PARAMS = [
    pytest.param(type_name, case, False, id=f"{type_name}-{i}")
    for type_name, cls in sorted(REGISTRY.items())
    for i, case in enumerate(cls.examples[:3])
]
# A merge with every input masked, besides the first only.
PARAMS += [
    pytest.param(type_name, cls.examples[0], True, id=f"{type_name}-all-masked")
    for type_name, cls in sorted(REGISTRY.items())
    if cls.max_inputs != 1
]


def _fails_when_run(keras: Any, layer: Any, case: Example) -> None:
    """Keras builds the layer behind a mask, but calling it on data with that mask fails."""
    import numpy as np

    shape = tuple(7 if d is None else d for d in case.inputs[0])
    data = np.ones((2, *shape), "float32")
    with pytest.raises(Exception) as failed:  # Keras's ValueError, or TensorFlow's own error
        layer(data, mask=np.ones((2, *shape[:-1]), bool))
    # The mask's own error; or, for a ConvLSTM that changes the frame size, TensorFlow's select between frames.
    assert "mask" in str(failed.value) or "must be broadcastable" in str(failed.value), failed.value


def _masks(output: Any) -> list[bool]:
    outputs = list(output) if isinstance(output, (list, tuple)) else [output]
    return [getattr(o, "_keras_mask", None) is not None for o in outputs]


@pytest.mark.parametrize(("type_name", "case", "every_input"), PARAMS)
def test_mask_rule_matches_keras(keras: Any, type_name: str, case: Example, every_input: bool) -> None:
    spec = REGISTRY[type_name].model_validate({"type": type_name, **case.args})
    inputs = [keras.Input(shape=shape, dtype=case.dtype) for shape in case.inputs]
    some = case.dtype.startswith("float")  # a mask on integer ids would need a float Masking layer
    carrying = [some and (i == 0 or every_input) for i in range(len(inputs))]
    inputs = [keras.layers.Masking()(t) if m else t for t, m in zip(inputs, carrying, strict=True)]
    masked = spec.combined_mask(carrying)
    layer = keras_layer(keras, spec, "probe")
    kwargs = spec.call.model_dump(exclude_unset=True) if spec.call is not None else {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        output = spec.keras_call(layer, inputs, **kwargs)
    dropped = any("does not support masking" in str(w.message) for w in caught)
    if some and spec.masking == "fails":
        assert not dropped
        _fails_when_run(keras, layer, case)
        return
    if some and spec.masking == "refuse" and not spec.output_masks(True)[0]:
        assert dropped, f"{type_name} is said to lose a mask, but Keras keeps it"
        return
    assert not dropped, f"Keras drops the mask at {type_name}: its `masking` should be 'refuse'"
    assert _masks(output) == spec.output_masks(masked)
