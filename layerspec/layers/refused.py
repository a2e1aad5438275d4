"""Keras layer classes that a spec cannot describe statically, with the reason: `check` names it instead of
calling the type unknown. Each reason was found by building and running the class with Keras 3.15."""

from __future__ import annotations

REFUSED_TYPES = {
    "RandomCrop": (
        "returns height x width images only while training and the uncropped image at inference (Keras 3.15), so "
        "the model's output shape is not fixed; use CenterCrop, or Resizing, for a fixed size"
    ),
    "Equalization": (
        "returns its float32 input tensor itself when a model is built, which Keras then refuses as a cycle "
        "(Keras 3.15); use AutoContrast or ContrastLimitedAdaptiveHistogramEqualization"
    ),
    "MaxNumBoundingBoxes": (
        "works on bounding-box dictionaries ({'boxes': ..., 'labels': ...}), which a spec's tensors are not"
    ),
    "STFTSpectrogram": ("needs scipy to build its window, which layerspec does not depend on; use MelSpectrogram"),
}
