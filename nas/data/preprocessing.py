"""once-for-all's ImageNet evaluation preprocessing, so an imported subnet's accuracy on an image folder is
comparable with published numbers.

At resolution ``r`` an image is resized bilinearly so that its shorter side is ``ceil(r / 0.875)`` (the longer side
keeps the aspect ratio, truncated to an integer), centre-cropped to ``r`` x ``r`` and normalized with ImageNet's
per-channel mean and standard deviation: torchvision's ``Resize(ceil(r / 0.875))``, ``CenterCrop(r)``,
``ToTensor()`` and ``Normalize(IMAGENET_MEAN, IMAGENET_STD)`` on a PIL image, as once-for-all evaluates. The
``imagefolder`` data set uses it from :data:`OFA_MIN_RESOLUTION` up (once-for-all's smallest ImageNet resolution).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "CROP_FRACTION",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "OFA_MIN_RESOLUTION",
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
