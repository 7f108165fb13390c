"""From a loader's raw images and labels to :class:`~nas.data.datasets.DataSplits`: the stratified train/val/test
split, image preparation and normalization.

Every image becomes a 3-channel float32 tensor of ``resolution`` x ``resolution`` (grayscale is repeated to 3
channels, other sizes are stretched with bilinear interpolation), normalized per channel with the mean and
standard deviation of the train split. Work goes in chunks of images to bound temporary memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nas.data.datasets import DataSplits, TensorImageDataset
from search_spaces.errors import DataError

__all__ = ["fraction_count", "make_splits", "resize", "three_way", "to_float_images"]

_CHUNK = 2048  # images converted / resized / reduced at a time, to bound temporary memory


# -------------------- splits --------------------


def fraction_count(fraction: float, total: int) -> int:
    """How many of ``total`` items ``fraction`` stands for: rounded up, at least 1 when ``fraction`` > 0."""
    if fraction <= 0 or total <= 0:
        return 0
    return max(1, math.ceil(fraction * total - 1e-9))


def _carve(indices: np.ndarray, labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``count`` of ``indices`` off at random, stratified by label where every class allows it.

    Stratification needs at least 2 items of each class and room for every class on both sides; tiny custom
    data sets that lack that are split uniformly at random instead (still deterministic by ``seed``).

    Returns:
        ``(rest, carved)`` index arrays, each sorted.
    """
    if count <= 0:
        return indices, indices[:0]
    from sklearn.model_selection import train_test_split

    sub_labels = labels[indices]
    classes, counts = np.unique(sub_labels, return_counts=True)
    stratifiable = counts.min() >= 2 and count >= len(classes) and len(indices) - count >= len(classes)
    rest, carved = train_test_split(
        indices,
        test_size=count,
        random_state=seed,
        shuffle=True,
        stratify=sub_labels if stratifiable else None,
    )
    return np.sort(rest), np.sort(carved)


def three_way(
    labels: np.ndarray, test_count: int, val_count: int, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Carve ``test_count`` then ``val_count`` items out of ``labels``' indices; the rest is train.

    Raises:
        DataError: there are not enough items to leave a non-empty train split.
    """
    total = len(labels)
    if test_count + val_count >= total:
        raise DataError(
            f"{what} has only {total} images: too few to hold out {test_count} for test and {val_count} "
            "for val and keep a non-empty train split; add images or lower test_fraction/val_fraction"
        )
    rest, test = _carve(np.arange(total), labels, test_count, seed)
    train, val = _carve(rest, labels, val_count, seed)
    return train, val, test


# -------------------- images --------------------


def resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinearly resize float images ``(N, C, H, W)`` to ``resolution`` squared (antialiased to shrink)."""
    height, width = images.shape[-2:]
    if height == resolution and width == resolution:
        return images
    shrink = height > resolution or width > resolution
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrink)


def to_float_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Convert ``(N, 1 or 3, H, W)`` uint8 (0..255) or float (0..1) images to float32 RGB ``resolution``."""
    count = images.shape[0]
    out = torch.empty((count, 3, resolution, resolution), dtype=torch.float32)
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    for start in range(0, count, _CHUNK):
        part = images[start : start + _CHUNK].to(torch.float32)
        if scale != 1.0:
            part = part.div_(scale)
        if part.shape[1] == 1:
            part = part.expand(-1, 3, -1, -1)
        out[start : start + _CHUNK] = resize(part, resolution)
    return out


# -------------------- normalization --------------------


def _channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) standard deviation of ``(N, 3, H, W)`` images, in float64."""
    per_channel = images.shape[0] * images.shape[2] * images.shape[3]
    total = torch.zeros(3, dtype=torch.float64)
    for start in range(0, images.shape[0], _CHUNK):
        total += images[start : start + _CHUNK].to(torch.float64).sum(dim=(0, 2, 3))
    mean = total / per_channel
    squares = torch.zeros(3, dtype=torch.float64)
    for start in range(0, images.shape[0], _CHUNK):
        centred = images[start : start + _CHUNK].to(torch.float64) - mean.view(1, 3, 1, 1)
        squares += centred.square().sum(dim=(0, 2, 3))
    std = (squares / per_channel).sqrt()
    std = torch.where(std < 1e-6, torch.ones_like(std), std)  # a constant channel is only centred
    return mean, std


def make_splits(
    name: str,
    parts: dict[str, tuple[torch.Tensor, torch.Tensor]],
    class_names: Sequence[str],
    resolution: int,
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
    crop_fraction: float | None = None,
) -> DataSplits:
    """Normalize float images in [0, 1] (in place) with ``normalization``'s (mean, std), by default the train
    split's statistics, and wrap them as DataSplits (``crop_fraction``: how the images were cut, see
    :class:`~nas.data.datasets.DataSplits`)."""
    if normalization is None:
        mean, std = _channel_stats(parts["train"][0])
    else:
        mean = torch.tensor(normalization[0], dtype=torch.float64)
        std = torch.tensor(normalization[1], dtype=torch.float64)
    mean_tuple = tuple(float(v) for v in mean)
    std_tuple = tuple(float(v) for v in std)
    datasets: dict[str, TensorImageDataset] = {}
    for split, (images, labels) in parts.items():
        images.sub_(mean.to(torch.float32).view(1, 3, 1, 1)).div_(std.to(torch.float32).view(1, 3, 1, 1))
        datasets[split] = TensorImageDataset(images.contiguous(), labels.to(torch.int64), mean_tuple, std_tuple)
    return DataSplits(
        name=name,
        train=datasets["train"],
        val=datasets["val"],
        test=datasets["test"],
        num_classes=len(class_names),
        class_names=tuple(class_names),
        resolution=resolution,
        crop_fraction=crop_fraction,
    )
