"""Folder datasets: one sub-folder of images per class, labelled by the class's name (no TensorFlow here).

The training split defines the classes: its sub-folder names in sorted order, or `data.class_names`, which lists
those folder names in label order. Another split (test, validation) may hold a subset of the classes; its images
keep their class's label, so a test folder without one class shifts nothing. A class folder the training split
lacks is an error naming the folder, as is a `class_names` entry no training folder has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerspec.errors import DataError, Diagnostic, SpecError
from layerspec.images import IMAGE_SUFFIXES, MemoryBudget, decoded_shape, read_images
from layerspec.spec import LoadedSpec
from layerspec.spec.data import DataSpec
from layerspec.spec.diagnostics import did_you_mean
from layerspec.splits import Split, Target, check_class_count, shape_fits

# Image files of formats layerspec does not decode: refused rather than skipped, so no class loses them silently.
UNREAD_SUFFIXES = (".tif", ".tiff", ".webp", ".avif", ".heic", ".heif", ".jp2", ".ico", ".psd")
IMAGES_FIX = "use fewer images, or a smaller data.image_size or input shape"


@dataclass(frozen=True)
class FolderSplit:
    """One split's image files and their labels (indices into the training split's classes), not yet decoded."""

    path: Path
    files: list[Path]
    labels: np.ndarray


def read_folder_splits(
    loaded: LoadedSpec, spec: DataSpec, root: Path, roles: list[tuple[str, str]], target: Target, size: tuple[int, int]
) -> tuple[dict[str, Split], list[str]]:
    """Every split's files listed and labelled by class name and the memory claimed for all, then decoded.

    `roles` holds (role, folder relative to `root`), the training split first.
    """
    train_dir = root / spec.train
    classes = training_classes(loaded, spec.class_names, train_dir)
    check_class_count(classes, target, train_dir)
    decoded = decoded_shape(1, spec, size)[1:]
    if not shape_fits(decoded, target.input_shape):
        raise DataError(
            str(train_dir),
            f"images are read as {decoded} (data.image_size, data.color_mode); the model's input is "
            f"{target.input_shape}: make them agree",
        )
    listed = {role: list_split(root / path, role, classes) for role, path in roles}
    budget = MemoryBudget()
    for part in listed.values():
        budget.claim(
            decoded_shape(len(part.files), spec, size), part.path, f"{len(part.files)} images decode to", IMAGES_FIX
        )
    splits = {
        role: Split(read_images(part.files, spec, size), part.labels, [str(f) for f in part.files])
        for role, part in listed.items()
    }
    return splits, classes


def class_folders(path: Path, role: str) -> list[str]:
    """The class sub-folders of a split folder, sorted by name."""
    if path.is_file():
        raise DataError(
            str(path),
            f"the {role} split is a file, but data.format is 'folder', which reads one sub-folder of images per "
            f"class: for HDF5 files write `format: h5` in the data section, or name a folder in data.{role}",
        )
    if not path.is_dir():
        raise DataError(str(path), f"no such folder for the {role} split (one sub-folder of images per class)")
    names = sorted(p.name for p in _entries(path) if p.is_dir())
    if not names:
        raise DataError(str(path), "no class sub-folders (expected one folder of images per class)")
    return names


def training_classes(loaded: LoadedSpec, class_names: list[str] | None, train_dir: Path) -> list[str]:
    """The class names in label order: the training folders sorted, or `class_names` checked against them."""
    folders = class_folders(train_dir, "train")
    if class_names is None:
        return folders
    _check_listed(loaded, class_names, folders, train_dir)
    unlisted = [name for name in folders if name not in class_names]
    if unlisted:
        raise DataError(
            str(train_dir / unlisted[0]),
            f"class folder '{unlisted[0]}' is not listed in data.class_names ({', '.join(class_names)}); "
            f"list every training class folder there, or move it out of {train_dir}"
            + (f" ({len(unlisted)} folders unlisted: {', '.join(unlisted[:10])})" if len(unlisted) > 1 else ""),
        )
    return list(class_names)


def _check_listed(loaded: LoadedSpec, class_names: list[str], folders: list[str], train_dir: Path) -> None:
    """Every `class_names` entry is a training class folder, listed once; errors point at the entry."""
    diagnostics: list[Diagnostic] = []
    first: dict[str, int] = {}
    for index, name in enumerate(class_names):
        if name in first:
            message = f"class '{name}' is listed twice (also data.class_names[{first[name]}]); one label per folder"
        elif name not in folders:
            message = (
                f"class '{name}' has no folder in the training split {train_dir} (its class folders: "
                f"{', '.join(folders[:20])}): each name must be a class folder's name{did_you_mean(name, folders)}"
            )
        else:
            first[name] = index
            continue
        first.setdefault(name, index)
        diagnostics.append(loaded.source.diagnostic(("data", "class_names", index), message))
    if diagnostics:
        raise SpecError(diagnostics)


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise DataError(str(folder), f"cannot list the folder: {exc.strerror or exc}") from None


def list_split(path: Path, role: str, classes: list[str]) -> FolderSplit:
    """The split's image files with the label of their class folder's name in `classes`."""
    label_of = {name: label for label, name in enumerate(classes)}
    files: list[Path] = []
    labels: list[int] = []
    for name in class_folders(path, role):
        if name not in label_of:
            raise DataError(
                str(path / name),
                f"class folder '{name}' of the {role} split is not a class of the training split "
                f"({', '.join(classes[:20])}): rename it to one of those, or remove it",
            )
        for file in sorted(_entries(path / name)):
            suffix = file.suffix.lower()
            if suffix in UNREAD_SUFFIXES:
                raise DataError(str(file), f"{suffix} images are not read (only JPEG, PNG, BMP, GIF): convert it")
            if suffix in IMAGE_SUFFIXES:
                files.append(file)
                labels.append(label_of[name])
    if not files:
        raise DataError(str(path), f"no image files ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return FolderSplit(path, files, np.asarray(labels, np.int64))
