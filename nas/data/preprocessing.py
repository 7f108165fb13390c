"""once-for-all's ImageNet evaluation preprocessing, so an imported subnet's accuracy on an image folder is
comparable with published numbers.

At resolution ``r`` an image is resized bilinearly so that its shorter side is ``ceil(r / 0.875)`` (the longer side
keeps the aspect ratio, truncated to an integer), centre-cropped to ``r`` x ``r`` and normalized with ImageNet's
per-channel mean and standard deviation: torchvision's ``Resize(ceil(r / 0.875))``, ``CenterCrop(r)``,
``ToTensor()`` and ``Normalize(IMAGENET_MEAN, IMAGENET_STD)`` on a PIL image, as once-for-all evaluates. The
``imagefolder`` data set uses it from :data:`OFA_MIN_RESOLUTION` up (once-for-all's smallest ImageNet resolution).

:func:`evaluation_preprocessing` states, as a :class:`Preprocessing`, what any data set's images went through
before a model of a given resolution saw them (what an exported model's user must do to an image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nas.data.datasets import DataSplits

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OFA_MIN_RESOLUTION",
    "Preprocessing",
    "evaluation_preprocessing",
    "ofa_crop",
    "ofa_resize_side",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
CROP_FRACTION = 0.875
OFA_MIN_RESOLUTION = 128
"""From this resolution up, ``imagefolder`` preprocesses like once-for-all's ImageNet evaluation."""


def ofa_resize_side(resolution: int) -> int:
    """The shorter side an image is resized to before the centre crop of ``resolution``."""
    return math.ceil(resolution / CROP_FRACTION)


def ofa_crop(image: Image, resolution: int) -> np.ndarray:
    """A PIL RGB image resized (shorter side :func:`ofa_resize_side`, bilinear) and centre-cropped to
    ``resolution``; float32 ``(resolution, resolution, 3)`` in [0, 1], not yet normalized."""
    from PIL.Image import Resampling

    width, height = image.size
    short = ofa_resize_side(resolution)
    if width <= height:
        size = (short, int(short * height / width))
    else:
        size = (int(short * width / height), short)
    resized = image.resize(size, Resampling.BILINEAR) if size != (width, height) else image
    top = round((size[1] - resolution) / 2.0)
    left = round((size[0] - resolution) / 2.0)
    cropped = resized.crop((left, top, left + resolution, top + resolution))
    return np.asarray(cropped, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class Preprocessing:
    """What an image goes through before a model sees it: resized (``interpolation``) so its shorter side is
    ``resize_side`` and centre-cropped to ``resolution`` squared, or, with ``resize_side`` None, stretched whole to
    ``resolution`` squared; then scaled to [0, 1] and normalized per channel with ``mean`` and ``std``."""

    resolution: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_side: int | None = None
    interpolation: str = "bilinear"


def evaluation_preprocessing(data: DataSplits, resolution: int) -> Preprocessing:
    """The preprocessing of ``data``'s images as a model of ``resolution`` is evaluated on them: the data set's own
    (at ``data.resolution``, see :attr:`DataSplits.crop_fraction`), then stretched to ``resolution`` as evaluation
    and export resize them. A crop keeps its field of view: the shorter side scales with the resolution, so at
    ``data.resolution`` it is exactly the data set's (``ceil(resolution / 0.875)`` for once-for-all's)."""
    mean = tuple(float(v) for v in getattr(data.train, "mean", (0.0, 0.0, 0.0)))
    std = tuple(float(v) for v in getattr(data.train, "std", (1.0, 1.0, 1.0)))
    side = None
    if data.crop_fraction is not None:
        side = round(resolution * math.ceil(data.resolution / data.crop_fraction) / data.resolution)
    return Preprocessing(resolution, mean, std, side)
