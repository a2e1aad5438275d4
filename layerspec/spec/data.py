"""The `data:` section of a spec: which dataset to train and evaluate on, and how to read it.

Paths are relative to the spec file's folder (or to `--data DIR` when given on the command line). The defaults
describe the SIGNS dataset as `make data` links it into `data/signs/`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from layerspec.spec.base import StrictModel

PathText = Annotated[str, Field(min_length=1, max_length=4096)]
KeyText = Annotated[str, Field(min_length=1, max_length=1024)]
Size = Annotated[int, Field(gt=0, le=65536)]


class H5Keys(StrictModel):
    """Names of the HDF5 datasets inside the files (the defaults are the SIGNS files' keys)."""

    train_x: KeyText = Field(default="train_set_x", description="Images of the training file, (N, H, W, C).")
    train_y: KeyText = Field(default="train_set_y", description="Integer labels of the training file, (N,).")
    test_x: KeyText = Field(default="test_set_x", description="Images of the test file.")
    test_y: KeyText = Field(default="test_set_y", description="Labels of the test file.")
    validation_x: KeyText | None = Field(
        default=None, description="Images of the validation file; default: the training keys."
    )
    validation_y: KeyText | None = Field(
        default=None, description="Labels of the validation file; default: the training keys."
    )
    classes: KeyText | None = Field(
        default="list_classes", description="Optional list of class labels (used for class names when present)."
    )


class ArrayKeys(StrictModel):
    """Names of the arrays inside each file of the `arrays` format (.npz members or HDF5 datasets)."""

    x: KeyText = Field(default="x", description="The inputs, (N, ...) matching the model's input shape.")
    y: KeyText = Field(
        default="y", description="The targets: (N,) integer class ids, or (N, ...) values with data.labels: values."
    )


class DataSpec(StrictModel):
    """The dataset: HDF5 arrays or folders of images, one sub-folder per class."""

    format: Literal["h5", "folder", "arrays"] = Field(
        default="h5",
        description="'h5': images in HDF5 files; 'folder': one sub-folder of JPEG/PNG images per class "
        "(the layout keras.utils.image_dataset_from_directory reads); 'arrays': one .npz or HDF5 file per split "
        "with an input array and a target array of any shape (sequences, tables, values).",
    )
    dir: PathText | None = Field(
        default=None,
        description="Folder holding the files, relative to the spec file; default data/signs in the working "
        "directory. `--data DIR` overrides it.",
    )
    train: PathText = Field(
        default="train_signs.h5", description="Training file (h5) or folder (folder format), relative to `dir`."
    )
    test: PathText | None = Field(default="test_signs.h5", description="Test file or folder; null for none.")
    validation: PathText | None = Field(
        default=None, description="Validation file or folder; exclusive with `validation_split`."
    )
    validation_split: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        default=0.0,
        description="Fraction of the training examples held out for validation (stratified by class).",
    )
    keys: H5Keys = Field(default_factory=H5Keys, description="HDF5 dataset names (h5 format).")
    arrays: ArrayKeys = Field(default_factory=ArrayKeys, description="Array names in each file (arrays format).")
    image_size: Annotated[list[Size], Field(min_length=2, max_length=2)] | None = Field(
        default=None,
        description="[height, width] images are resized to (folder format, predict); default: the input shape.",
    )
    interpolation: Literal["bilinear", "nearest", "bicubic"] = Field(
        default="bilinear", description="How images are resized."
    )
    color_mode: Literal["rgb", "grayscale"] = Field(default="rgb", description="Channels of decoded images.")
    # Bounded so that pixels neither overflow nor vanish: 1e-30 would turn 255 into 2.6e32 (inf in float16),
    # 1e30 into 2.6e-28 (the same as zero to the first layer).
    scale: Annotated[float, Field(ge=1e-3, le=1e6)] = Field(
        default=255.0,
        description="Pixel values are divided by this (255 maps uint8 pixels into [0, 1]); from 0.001 to 1000000. "
        "The arrays format divides float inputs only when this is written.",
    )
    labels: Literal["one_hot", "sparse", "values"] = Field(
        default="one_hot",
        description="Label encoding fed to the loss: one-hot vectors (categorical loss), integer ids (sparse), "
        "or the stored targets as they are ('values': regression targets, 0/1 targets of binary cross-entropy).",
    )
    shuffle_seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = Field(
        default=0, description="Seed of the validation split and of the per-epoch shuffling."
    )
    class_names: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(min_length=1)] | None = (
        Field(default=None, description="Names of the classes, in label order; default: from the data.")
    )
