"""What every loader returns: :class:`TensorImageDataset` (one split as whole tensors a trainer may slice directly)
and :class:`DataSplits` (the train, val and test splits of one data set)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

from search_spaces.errors import ConfigError

__all__ = ["DataSplits", "TensorImageDataset"]


class TensorImageDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images and labels held as whole tensors.

    Attributes:
        images: float32 tensor ``(N, 3, H, W)``, already normalized with ``mean`` and ``std``.
        labels: int64 tensor ``(N,)``.
        mean: per-channel mean subtracted from the images (that of the train split).
        std: per-channel standard deviation the images were divided by.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        """Wrap ``images`` and ``labels``; checks that they have matching, expected shapes and dtypes."""
        if not isinstance(images, torch.Tensor) or images.dtype != torch.float32 or images.dim() != 4:
            raise ConfigError(
                f"images must be a float32 tensor of shape (N, 3, H, W), got {_describe_tensor(images)}",
                field="images",
            )
        if images.shape[1] != 3:
            raise ConfigError(f"images must have 3 channels, got shape {tuple(images.shape)}", field="images")
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.dim() != 1:
            raise ConfigError(
                f"labels must be an int64 tensor of shape (N,), got {_describe_tensor(labels)}",
                field="labels",
            )
        if labels.shape[0] != images.shape[0]:
            raise ConfigError(f"labels has {labels.shape[0]} entries but images has {images.shape[0]}", field="labels")
        if len(mean) != 3 or len(std) != 3:
            raise ConfigError(f"mean and std need 3 values each, got {mean!r} and {std!r}", field="mean")
        self.images = images
        self.labels = labels
        self.mean: tuple[float, float, float] = (float(mean[0]), float(mean[1]), float(mean[2]))
        self.std: tuple[float, float, float] = (float(std[0]), float(std[1]), float(std[2]))

    def __len__(self) -> int:
        """Number of images."""
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """The normalized image ``(3, H, W)`` and its integer label."""
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        """Size and image shape, without the data."""
        return f"{type(self).__name__}(n={len(self)}, image_shape={tuple(self.images.shape[1:])})"


@dataclass(frozen=True)
class DataSplits:
    """The train, val and test splits of one data set.

    Attributes:
        name: data set name (``digits``, ``cifar10``, ``imagefolder`` or another registered one).
        train: train split; items are ``(float32 image (3, H, W), int label)``.
        val: validation split (empty only when ``val_fraction`` was 0 and no ``val/`` folder exists).
        test: test split.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        class_names: name of each label, in label order.
        resolution: height and width of every image.
        crop_fraction: how each image was cut to ``resolution``: resized so its shorter side is
            ``ceil(resolution / crop_fraction)`` (bilinear) and centre-cropped, as once-for-all evaluates ImageNet
            (0.875); None: stretched whole to ``resolution`` (bilinear).
    """

    name: str
    train: Dataset[tuple[torch.Tensor, int]]
    val: Dataset[tuple[torch.Tensor, int]]
    test: Dataset[tuple[torch.Tensor, int]]
    num_classes: int
    class_names: tuple[str, ...]
    resolution: int
    crop_fraction: float | None = None


def _describe_tensor(value: Any) -> str:
    """Short description of a value expected to be a tensor, for messages."""
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__
