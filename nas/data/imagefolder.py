"""The ``imagefolder`` data set: a small custom data set of image files in class sub-folders, optionally already
split into ``train/``, ``val/`` and ``test/``. Every image is decoded into memory, so it is meant for small data
sets; missing splits are carved from the train images.

Below :data:`~nas.data.preprocessing.OFA_MIN_RESOLUTION` an image is stretched to the resolution and the splits are
normalized with the train split's statistics. From it up (ImageNet resolutions) every split is preprocessed as
once-for-all evaluates ImageNet (:mod:`nas.data.preprocessing`: shorter side to ``ceil(r / 0.875)``, bilinear,
centre crop ``r``, ImageNet mean and std), so imported subnets score as their published numbers do.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.checks import root_folder
from nas.data.datasets import DataSplits
from nas.data.preprocessing import CROP_FRACTION, IMAGENET_MEAN, IMAGENET_STD, OFA_MIN_RESOLUTION, ofa_crop
from nas.data.registry import register_dataset
from nas.data.splits import fraction_count, make_splits, resize, three_way
from search_spaces.errors import DataError

__all__ = ["IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".png", ".webp")
"""Suffixes (matched case-insensitively) of the files ``imagefolder`` reads; other files are skipped."""

_SPLIT_FOLDERS = ("train", "val", "test")


def _subfolders(folder: Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders of ``folder``."""
    try:
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot list folder {folder}: {exc.strerror or exc}") from None


def _image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively, hidden ones skipped), in sorted order."""
    try:
        found = [
            path
            for path in folder.rglob("*")
            if path.suffix.lower() in IMAGE_EXTENSIONS
            and path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        ]
    except OSError as exc:
        raise DataError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    return sorted(found)


def _read_image(path: Path, resolution: int) -> torch.Tensor:
    """Decode one image file to a float32 RGB tensor ``(3, resolution, resolution)`` with values in [0, 1]:
    stretched to the resolution, or from :data:`OFA_MIN_RESOLUTION` up resized and centre-cropped like
    once-for-all."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):  # 16-bit grayscale
                gray = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)
                if resolution >= OFA_MIN_RESOLUTION:
                    rgb = Image.fromarray(np.round(gray * 255.0).astype(np.uint8)).convert("RGB")
                    array = ofa_crop(rgb, resolution)
                else:
                    array = np.repeat(gray[:, :, None], 3, axis=2)
            elif resolution >= OFA_MIN_RESOLUTION:
                array = ofa_crop(image.convert("RGB"), resolution)
            else:
                array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except Exception as exc:  # PIL raises many types for bad files; all mean this file cannot be used
        raise DataError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from None
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"cannot read image {path}: it decodes to an empty array of shape {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)
    return resize(tensor, resolution)[0]


def _read_class_folders(
    folder: Path, class_names: Sequence[str], resolution: int, *, every_class: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """Read ``folder/<class>/**/<image>`` for each class; labels are positions in ``class_names``.

    Args:
        folder: the folder holding the class folders.
        class_names: the class folder names, in label order.
        resolution: side of the returned images.
        every_class: require at least one image in every class folder.
    """
    images: list[torch.Tensor] = []
    labels: list[int] = []
    for label, class_name in enumerate(class_names):
        files = _image_files(folder / class_name)
        if every_class and not files:
            raise DataError(
                f"class folder {folder / class_name} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)})"
            )
        images.extend(_read_image(path, resolution) for path in files)
        labels.extend([label] * len(files))
    if not images:
        raise DataError(f"no images found under {folder} (looked for {', '.join(IMAGE_EXTENSIONS)} files)")
    return torch.stack(images), np.asarray(labels, dtype=np.int64)


def _class_names_of(folder: Path, layout: str) -> list[str]:
    """Class folder names of ``folder``; DataError unless there are at least 2."""
    names = _subfolders(folder)
    if len(names) < 2:
        raise DataError(
            f"found {len(names)} class folder(s) in {folder} ({', '.join(names) or 'none'}); "
            f"at least 2 classes are needed, laid out as {layout}"
        )
    return names


def _normalization(resolution: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """ImageNet's mean and std at ImageNet resolutions; None (the train split's statistics) below."""
    return (IMAGENET_MEAN, IMAGENET_STD) if resolution >= OFA_MIN_RESOLUTION else None


def _crop_fraction(resolution: int) -> float | None:
    """Once-for-all's centre-crop fraction at ImageNet resolutions; None (images stretched whole) below."""
    return CROP_FRACTION if resolution >= OFA_MIN_RESOLUTION else None


def _splits(parts: dict[str, Any], class_names: Sequence[str], resolution: int) -> DataSplits:
    """The folder's splits, with the normalization and crop of images read at ``resolution``."""
    return make_splits(
        "imagefolder",
        parts,
        class_names,
        resolution,
        normalization=_normalization(resolution),
        crop_fraction=_crop_fraction(resolution),
    )


@register_dataset("imagefolder")
def _load_imagefolder(
    root: str | os.PathLike[str] | None, resolution: int, seed: int, val_fraction: float, test_fraction: float
) -> DataSplits:
    """A folder of class folders (or of train/val/test folders of class folders), read whole into memory."""
    layout = "ROOT/<class>/<image> or ROOT/train/<class>/<image> (plus optional ROOT/val/, ROOT/test/)"
    folder = root_folder(
        root,
        f"imagefolder needs root: a folder laid out as {layout}",
        lambda p: f"image folder root {p}",
        lambda p: layout.replace("ROOT", str(p)),
    )
    layout = layout.replace("ROOT", str(folder))
    subfolders = _subfolders(folder)
    split_dirs = [name for name in subfolders if name in _SPLIT_FOLDERS]
    if not split_dirs:
        class_names = _class_names_of(folder, layout)
        images, labels = _read_class_folders(folder, class_names, resolution, every_class=True)
        total = len(labels)
        train, val, test = three_way(
            labels,
            fraction_count(test_fraction, total),
            fraction_count(val_fraction, total),
            seed,
            str(folder),
        )
        parts = {
            split: (images[torch.from_numpy(idx)], torch.from_numpy(labels[idx]))
            for split, idx in (("train", train), ("val", val), ("test", test))
        }
        return _splits(parts, class_names, resolution)

    if "train" not in split_dirs:
        raise DataError(f"{folder} has {'/, '.join(split_dirs)}/ but no train/ folder; expected {layout}")
    others = [name for name in subfolders if name not in _SPLIT_FOLDERS]
    if others:
        raise DataError(
            f"{folder} mixes split folders ({', '.join(split_dirs)}) with other folders "
            f"({', '.join(others)}); put the class folders inside train/ (and val/, test/)"
        )
    train_dir = folder / "train"
    class_names = _class_names_of(train_dir, layout)
    for split in ("val", "test"):
        if split in split_dirs:
            names = _subfolders(folder / split)
            if names != class_names:
                missing = sorted(set(class_names) - set(names))
                extra = sorted(set(names) - set(class_names))
                raise DataError(
                    f"class folders of {folder / split} differ from those of {train_dir}: "
                    f"missing {missing or 'none'}, unexpected {extra or 'none'}"
                )
    images, labels = _read_class_folders(train_dir, class_names, resolution, every_class=True)
    total = len(labels)
    test_count = 0 if "test" in split_dirs else fraction_count(test_fraction, total)
    val_count = 0 if "val" in split_dirs else fraction_count(val_fraction, total)
    train, val, test = three_way(labels, test_count, val_count, seed, str(train_dir))
    parts = {
        split: (images[torch.from_numpy(idx)], torch.from_numpy(labels[idx]))
        for split, idx in (("train", train), ("val", val), ("test", test))
    }
    for split in ("val", "test"):
        if split in split_dirs:
            split_images, split_labels = _read_class_folders(folder / split, class_names, resolution, every_class=False)
            parts[split] = (split_images, torch.from_numpy(split_labels))
    return _splits(parts, class_names, resolution)
