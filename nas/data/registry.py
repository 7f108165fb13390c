"""Data sets by name: the registry every loader joins with :func:`register_dataset`, and :func:`load_dataset`,
which checks its arguments once and calls the registered loader.

A loader takes ``(root, resolution, seed, val_fraction, test_fraction)``, already checked, and returns
:class:`~nas.data.datasets.DataSplits` (usually through :func:`nas.data.splits.make_splits`). Adding a data set is
one module holding a loader decorated with ``@register_dataset("name")``, imported by ``nas/data/__init__.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from nas.data.checks import check_fraction, check_resolution, check_root, check_seed
from nas.data.classes import select_classes
from nas.data.datasets import DataSplits
from search_spaces.errors import ConfigError
from search_spaces.registry import Registry

__all__ = ["DATASETS", "Loader", "list_datasets", "load_dataset", "register_dataset"]

Loader = Callable[[Any, int, int, float, float], DataSplits]
"""``loader(root, resolution, seed, val_fraction, test_fraction) -> DataSplits``; ``root`` is None or a path."""

DATASETS: Registry[Loader] = Registry("data set")


def register_dataset(name: str) -> Callable[[Loader], Loader]:
    """Decorator registering a loader under ``name``; a name registered twice is refused."""
    return DATASETS.register(name)


def list_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts, sorted."""
    return DATASETS.names()


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    resolution: int = 32,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    classes: Sequence[str] | None = None,
) -> DataSplits:
    """Load a data set into memory as normalized train, val and test tensors.

    Args:
        name: one of :func:`list_datasets`.
        root: where the files are: for ``cifar10`` the folder holding ``cifar-10-batches-py/`` (or that folder
            itself); for ``imagefolder`` the folder of class sub-folders, or of ``train/`` (and optionally
            ``val/``, ``test/``) folders of class sub-folders. Must be None for ``digits``.
        resolution: side of the square images returned, 8 to 512.
        seed: seed of the stratified random splits; the same seed gives the same splits.
        val_fraction: share of the images held out for validation, in [0, 0.5). For ``cifar10`` it is a share
            of the 50,000 train images; for ``imagefolder`` with a ``train/`` folder, a share of that folder.
            It is not used where a ``val/`` folder exists.
        test_fraction: share of the images held out for testing, in (0, 0.5). Not used for ``cifar10`` (its
            test batch is the test split) nor where a ``test/`` folder exists.
        classes: keep only these classes (names, e.g. ``["5", "6", "7", "8", "9"]`` of ``digits``), relabelled
            ``0 .. k-1`` in this order (:func:`nas.data.classes.select_classes`); None keeps every class.

    Returns:
        The splits, as :class:`~nas.data.datasets.TensorImageDataset` objects normalized with the train split's
        statistics.

    Raises:
        UnknownNameError: ``name`` is not a known data set.
        ConfigError: a parameter is out of range.
        DataError: the files are missing, unreadable, or too few to make the splits.
    """
    loader = DATASETS.get(name)
    check_resolution(resolution)
    check_seed(seed)
    check_fraction("val_fraction", val_fraction, allow_zero=True)
    check_fraction("test_fraction", test_fraction, allow_zero=False)
    check_root(root)
    if classes is not None and (isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence)):
        raise ConfigError(
            f'classes must be a list of class names (parse "5-9" with parse_class_selection), got {classes!r}',
            field="classes",
            value=classes,
        )
    data = loader(root, resolution, seed, float(val_fraction), float(test_fraction))
    return data if classes is None else select_classes(data, classes)
