"""The ``digits`` data set: scikit-learn's bundled 8x8 hand-written digits (1,797 images, 10 classes); no files
needed, so it takes no root."""

from __future__ import annotations

import os

import numpy as np
import torch

from nas.data.datasets import DataSplits
from nas.data.registry import register_dataset
from nas.data.splits import fraction_count, make_splits, three_way, to_float_images
from search_spaces.errors import ConfigError

__all__: list[str] = []


@register_dataset("digits")
def _load_digits(
    root: str | os.PathLike[str] | None, resolution: int, seed: int, val_fraction: float, test_fraction: float
) -> DataSplits:
    """scikit-learn's bundled 8x8 digits, split stratified by label (test first, then val)."""
    if root is not None:
        raise ConfigError(
            f"root: the digits data set is bundled with scikit-learn and takes no root, got {os.fspath(root)!r}",
            field="root",
            value=root,
            allowed=None,
        )
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = torch.from_numpy(np.asarray(bunch.images, dtype=np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    total = len(labels)
    train, val, test = three_way(
        labels, fraction_count(test_fraction, total), fraction_count(val_fraction, total), seed, "digits"
    )
    parts = {
        split: (to_float_images(pixels[idx], resolution), torch.from_numpy(labels[idx]))
        for split, idx in (("train", train), ("val", val), ("test", test))
    }
    return make_splits("digits", parts, [str(c) for c in range(10)], resolution)
