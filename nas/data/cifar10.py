"""The ``cifar10`` data set: CIFAR-10 from a local folder in torchvision's python format (``cifar-10-batches-py``).
It is never downloaded, and its pickles are read with :mod:`nas.data.unpickler`, which only rebuilds numpy arrays.
The test batch is the test split; val is carved from the 50,000 train images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.checks import root_folder
from nas.data.datasets import DataSplits
from nas.data.registry import register_dataset
from nas.data.splits import fraction_count, make_splits, three_way, to_float_images
from nas.data.unpickler import read_pickle
from search_spaces.errors import DataError

__all__: list[str] = []

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILE = "test_batch"
_CIFAR_META_FILE = "batches.meta"
_CIFAR_FILES = (*_CIFAR_TRAIN_FILES, _CIFAR_TEST_FILE, _CIFAR_META_FILE)
_CIFAR_SIDE = 32


def _field(content: Any, key: str, path: Path) -> Any:
    """``content[b"key"]`` (or ``content["key"]``) of an unpickled dict, else DataError naming the file."""
    if not isinstance(content, dict):
        raise DataError(f"corrupt CIFAR-10 file {path}: expected a pickled dict, got {type(content).__name__}")
    for candidate in (key.encode("ascii"), key):
        if candidate in content:
            return content[candidate]
    raise DataError(f"corrupt CIFAR-10 file {path}: the dict has no {key.encode('ascii')!r} entry")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of one batch file."""
    content = read_pickle(path)
    data = _field(content, "data", path)
    labels = _field(content, "labels", path)
    pixels = _CIFAR_SIDE * _CIFAR_SIDE * 3
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"corrupt CIFAR-10 file {path}: b'data' must be a uint8 array (N, {pixels}), got {got}")
    try:
        label_array = np.asarray(labels)
    except Exception as exc:
        raise DataError(f"corrupt CIFAR-10 file {path}: b'labels' is not a list of ints ({exc})") from None
    if label_array.size == 0:
        label_array = label_array.astype(np.int64)
    if label_array.ndim != 1 or label_array.dtype.kind not in "iu" or len(label_array) != len(data):
        raise DataError(
            f"corrupt CIFAR-10 file {path}: b'labels' must be {len(data)} ints (one per image), "
            f"got {label_array.dtype} values of shape {label_array.shape}"
        )
    return data.reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE), label_array.astype(np.int64)


def _cifar_class_names(path: Path) -> list[str]:
    """The ``label_names`` of ``batches.meta``, decoded."""
    names = _field(read_pickle(path), "label_names", path)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"corrupt CIFAR-10 file {path}: b'label_names' must be a list of names")
    decoded = [n.decode("utf-8", errors="replace") if isinstance(n, bytes) else n for n in names]
    if len(decoded) < 2:
        raise DataError(f"{path} lists {len(decoded)} class(es); at least 2 classes are needed")
    return decoded


def _cifar_folder(root: str | os.PathLike[str] | None) -> Path:
    """The ``cifar-10-batches-py`` folder: ``root/cifar-10-batches-py`` or ``root`` itself."""
    expected = f"{', '.join(_CIFAR_FILES)} (torchvision's python format; the data set is never downloaded)"
    path = root_folder(
        root,
        f"cifar10 needs root: a folder holding {_CIFAR_FOLDER}/ with {expected}; pass root=...",
        lambda p: f"CIFAR-10 root {p}",
        lambda p: f"{p / _CIFAR_FOLDER}/ holding {expected}",
    )
    nested = path / _CIFAR_FOLDER
    if nested.is_dir():
        return nested
    if any((path / file).exists() for file in _CIFAR_FILES):
        return path
    raise DataError(f"no CIFAR-10 data at {nested}: expected that folder to hold {expected}")


@register_dataset("cifar10")
def _load_cifar10(
    root: str | os.PathLike[str] | None, resolution: int, seed: int, val_fraction: float, test_fraction: float
) -> DataSplits:
    """CIFAR-10 from a local ``cifar-10-batches-py`` folder; val is carved from the train batches."""
    del test_fraction  # the test batch is the test split
    folder = _cifar_folder(root)
    missing = [str(folder / file) for file in _CIFAR_FILES if not (folder / file).is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 folder {folder} lacks {', '.join(missing)}; expected {', '.join(_CIFAR_FILES)} "
            "(torchvision's python format; the data set is never downloaded)"
        )
    class_names = _cifar_class_names(folder / _CIFAR_META_FILE)
    batches = [(folder / file, *_cifar_batch(folder / file)) for file in (*_CIFAR_TRAIN_FILES, _CIFAR_TEST_FILE)]
    for path, _, labels in batches:
        if len(labels) and (labels.min() < 0 or labels.max() >= len(class_names)):
            raise DataError(
                f"corrupt CIFAR-10 file {path}: labels must be in 0..{len(class_names) - 1} "
                f"({len(class_names)} classes in {_CIFAR_META_FILE}), found {labels.min()}..{labels.max()}"
            )
    train_images = np.concatenate([images for _, images, _ in batches[:-1]])
    train_labels = np.concatenate([labels for _, _, labels in batches[:-1]])
    _, test_images, test_labels = batches[-1]
    del batches
    if len(test_labels) == 0:
        raise DataError(f"the test split is empty: {folder / _CIFAR_TEST_FILE} holds no images")
    train, val, _ = three_way(
        train_labels,
        0,
        fraction_count(val_fraction, len(train_labels)),
        seed,
        f"CIFAR-10 train data in {folder}",
    )
    parts = {
        "train": (to_float_images(torch.from_numpy(train_images[train]), resolution), train_labels[train]),
        "val": (to_float_images(torch.from_numpy(train_images[val]), resolution), train_labels[val]),
        "test": (to_float_images(torch.from_numpy(test_images), resolution), test_labels),
    }
    del train_images
    tensors = {split: (images, torch.from_numpy(labels)) for split, (images, labels) in parts.items()}
    return make_splits("cifar10", tensors, class_names, resolution)
