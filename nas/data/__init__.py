"""Image classification data sets, loaded whole into memory as normalized tensors.

Three data sets are known (:func:`list_datasets`):

* ``digits``: scikit-learn's bundled 8x8 hand-written digits (1,797 images, 10 classes); no files needed.
* ``cifar10``: CIFAR-10 from a local folder in torchvision's python format (``cifar-10-batches-py``). It is
  never downloaded, and its pickles are read with an unpickler that only rebuilds numpy arrays.
* ``imagefolder``: a small custom data set of image files in class sub-folders, optionally already split into
  ``train/``, ``val/`` and ``test/``. Every image is decoded into memory, so it is meant for small data sets.

Every image becomes a 3-channel float32 tensor of ``resolution`` x ``resolution`` (grayscale is repeated to 3
channels, other sizes are stretched with bilinear interpolation), normalized per channel with the mean and
standard deviation of the train split. :func:`load_dataset` returns the three splits as
:class:`TensorImageDataset` objects whose ``images`` and ``labels`` tensors a trainer may slice directly.

>>> splits = load_dataset("digits", resolution=16)
>>> image, label = splits.train[0]
>>> tuple(image.shape), splits.num_classes
((3, 16, 16), 10)
"""

from __future__ import annotations

import codecs
import functools
import importlib
import math
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from search_spaces.errors import ConfigError, DataError, UnknownNameError

__all__ = ["IMAGE_EXTENSIONS", "DataSplits", "TensorImageDataset", "list_datasets", "load_dataset"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".jpeg", ".jpg", ".png", ".webp")
"""Suffixes (matched case-insensitively) of the files ``imagefolder`` reads; other files are skipped."""

MIN_RESOLUTION = 8
MAX_RESOLUTION = 512
_CHUNK = 2048  # images converted / resized / reduced at a time, to bound temporary memory

_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_FILE = "test_batch"
_CIFAR_META_FILE = "batches.meta"
_CIFAR_FILES = (*_CIFAR_TRAIN_FILES, _CIFAR_TEST_FILE, _CIFAR_META_FILE)
_CIFAR_SIDE = 32

_SPLIT_FOLDERS = ("train", "val", "test")


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
        name: data set name (``digits``, ``cifar10`` or ``imagefolder``).
        train: train split; items are ``(float32 image (3, H, W), int label)``.
        val: validation split (empty only when ``val_fraction`` was 0 and no ``val/`` folder exists).
        test: test split.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        class_names: name of each label, in label order.
        resolution: height and width of every image.
    """

    name: str
    train: Dataset[tuple[torch.Tensor, int]]
    val: Dataset[tuple[torch.Tensor, int]]
    test: Dataset[tuple[torch.Tensor, int]]
    num_classes: int
    class_names: tuple[str, ...]
    resolution: int


# -------------------- public API --------------------


def list_datasets() -> list[str]:
    """Names :func:`load_dataset` accepts, sorted."""
    return sorted(_LOADERS)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    resolution: int = 32,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
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

    Returns:
        The splits, as :class:`TensorImageDataset` objects normalized with the train split's statistics.

    Raises:
        UnknownNameError: ``name`` is not a known data set.
        ConfigError: a parameter is out of range.
        DataError: the files are missing, unreadable, or too few to make the splits.
    """
    if not isinstance(name, str) or name not in _LOADERS:
        raise UnknownNameError("data set", name, list_datasets())
    _check_resolution(resolution)
    _check_seed(seed)
    _check_fraction("val_fraction", val_fraction, allow_zero=True)
    _check_fraction("test_fraction", test_fraction, allow_zero=False)
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ConfigError(
            f"root must be a path (str or os.PathLike) or None, got {type(root).__name__} {root!r}",
            field="root",
        )
    return _LOADERS[name](root, resolution, seed, float(val_fraction), float(test_fraction))


# -------------------- parameter checks --------------------


def _check_resolution(resolution: Any) -> None:
    """Raise ConfigError unless ``resolution`` is an int in 8..512."""
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, np.integer))
        or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
    ):
        raise ConfigError(
            f"resolution must be an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {resolution!r}",
            field="resolution",
            value=resolution,
            allowed=f"{MIN_RESOLUTION}..{MAX_RESOLUTION}",
        )


def _check_seed(seed: Any) -> None:
    """Raise ConfigError unless ``seed`` is an int usable as a numpy random state."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(
            f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}",
            field="seed",
            value=seed,
            allowed="0..2**32-1",
        )


def _check_fraction(field: str, value: Any, *, allow_zero: bool) -> None:
    """Raise ConfigError unless ``value`` is a number in [0, 0.5) (``allow_zero``) or (0, 0.5)."""
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    low_ok = numeric and (value >= 0 if allow_zero else value > 0)
    if not (numeric and low_ok and value < 0.5):
        allowed = "[0, 0.5)" if allow_zero else "(0, 0.5)"
        raise ConfigError(
            f"{field} must be a number in {allowed}, got {value!r}", field=field, value=value, allowed=allowed
        )


# -------------------- splits and tensors --------------------


def _fraction_count(fraction: float, total: int) -> int:
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


def _three_way(
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


def _resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinearly resize float images ``(N, C, H, W)`` to ``resolution`` squared (antialiased to shrink)."""
    height, width = images.shape[-2:]
    if height == resolution and width == resolution:
        return images
    shrink = height > resolution or width > resolution
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=shrink)


def _to_float_images(images: torch.Tensor, resolution: int) -> torch.Tensor:
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
        out[start : start + _CHUNK] = _resize(part, resolution)
    return out


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


def _make_splits(
    name: str,
    parts: dict[str, tuple[torch.Tensor, torch.Tensor]],
    class_names: Sequence[str],
    resolution: int,
) -> DataSplits:
    """Normalize float images in [0, 1] (in place) with the train statistics and wrap them as DataSplits."""
    mean, std = _channel_stats(parts["train"][0])
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
    )


def _describe_tensor(value: Any) -> str:
    """Short description of a value expected to be a tensor, for messages."""
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


# -------------------- digits --------------------


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
    train, val, test = _three_way(
        labels, _fraction_count(test_fraction, total), _fraction_count(val_fraction, total), seed, "digits"
    )
    parts = {
        split: (_to_float_images(pixels[idx], resolution), torch.from_numpy(labels[idx]))
        for split, idx in (("train", train), ("val", val), ("test", test))
    }
    return _make_splits("digits", parts, [str(c) for c in range(10)], resolution)


# -------------------- cifar10 --------------------


def _numpy_attribute(submodule: str, attribute: str) -> Any:
    """``numpy._core.<submodule>.<attribute>`` (numpy 2), else ``numpy.core.<submodule>.<attribute>``."""
    for module_name in (f"numpy._core.{submodule}", f"numpy.core.{submodule}"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            return getattr(module, attribute)
    raise AttributeError(f"numpy has no {submodule}.{attribute}")


def _allowed_pickle_globals() -> dict[tuple[str, str], Callable[[], Any]]:
    """The only globals a CIFAR-10 pickle may name: what numpy needs to rebuild arrays and scalars."""
    allowed: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: codecs.encode,  # bytes in protocol 0-2 pickles written by Python 3
    }
    for package in ("numpy.core", "numpy._core"):  # numpy < 2 wrote numpy.core, numpy 2 writes numpy._core
        for submodule, attribute in (
            ("multiarray", "_reconstruct"),
            ("multiarray", "scalar"),
            ("numeric", "_frombuffer"),
        ):
            allowed[(f"{package}.{submodule}", attribute)] = functools.partial(_numpy_attribute, submodule, attribute)
    return allowed


_PICKLE_GLOBALS = _allowed_pickle_globals()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain values and refuses every other global."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        """Read from ``file``; ``path`` only names the file in errors."""
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        """Resolve an allow-listed numpy global; raise DataError for anything else."""
        resolver = _PICKLE_GLOBALS.get((module, name))
        if resolver is None:
            raise DataError(
                f"refusing to unpickle {module}.{name} from {self._path}: a CIFAR-10 file may only hold "
                "numpy arrays, lists, bytes and numbers"
            )
        return resolver()


def _read_pickle(path: Path) -> Any:
    """Load one CIFAR-10 pickle with the restricted unpickler; any failure is a DataError naming the file."""
    try:
        with path.open("rb") as handle:
            return _ArrayUnpickler(handle, path).load()
    except DataError:
        raise
    except Exception as exc:  # pickle, numpy and I/O failures all mean the same: this file is unusable
        raise DataError(f"corrupt or unreadable CIFAR-10 file {path}: {type(exc).__name__}: {exc}") from None


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
    content = _read_pickle(path)
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
    names = _field(_read_pickle(path), "label_names", path)
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, (bytes, str)) for n in names):
        raise DataError(f"corrupt CIFAR-10 file {path}: b'label_names' must be a list of names")
    decoded = [n.decode("utf-8", errors="replace") if isinstance(n, bytes) else n for n in names]
    if len(decoded) < 2:
        raise DataError(f"{path} lists {len(decoded)} class(es); at least 2 classes are needed")
    return decoded


def _root_folder(
    root: str | os.PathLike[str] | None,
    when_missing: str,
    name: Callable[[Path], str],
    expected: Callable[[Path], str],
) -> Path:
    """``root`` as an existing folder, or a DataError that names it and what is expected there."""
    if root is None:
        raise DataError(when_missing)
    path = Path(root).expanduser()
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"{name(path)} {state}; expected {expected(path)}")
    return path


def _cifar_folder(root: str | os.PathLike[str] | None) -> Path:
    """The ``cifar-10-batches-py`` folder: ``root/cifar-10-batches-py`` or ``root`` itself."""
    expected = f"{', '.join(_CIFAR_FILES)} (torchvision's python format; the data set is never downloaded)"
    path = _root_folder(
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
    train, val, _ = _three_way(
        train_labels,
        0,
        _fraction_count(val_fraction, len(train_labels)),
        seed,
        f"CIFAR-10 train data in {folder}",
    )
    parts = {
        "train": (_to_float_images(torch.from_numpy(train_images[train]), resolution), train_labels[train]),
        "val": (_to_float_images(torch.from_numpy(train_images[val]), resolution), train_labels[val]),
        "test": (_to_float_images(torch.from_numpy(test_images), resolution), test_labels),
    }
    del train_images
    tensors = {split: (images, torch.from_numpy(labels)) for split, (images, labels) in parts.items()}
    return _make_splits("cifar10", tensors, class_names, resolution)


# -------------------- imagefolder --------------------


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
    """Decode one image file to a float32 RGB tensor ``(3, resolution, resolution)`` with values in [0, 1]."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):  # 16-bit grayscale
                gray = np.clip(np.asarray(image, dtype=np.float32) / 65535.0, 0.0, 1.0)
                array = np.repeat(gray[:, :, None], 3, axis=2)
            else:
                array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    except Exception as exc:  # PIL raises many types for bad files; all mean this file cannot be used
        raise DataError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from None
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"cannot read image {path}: it decodes to an empty array of shape {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).unsqueeze(0)
    return _resize(tensor, resolution)[0]


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


def _load_imagefolder(
    root: str | os.PathLike[str] | None, resolution: int, seed: int, val_fraction: float, test_fraction: float
) -> DataSplits:
    """A folder of class folders (or of train/val/test folders of class folders), read whole into memory."""
    layout = "ROOT/<class>/<image> or ROOT/train/<class>/<image> (plus optional ROOT/val/, ROOT/test/)"
    folder = _root_folder(
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
        train, val, test = _three_way(
            labels,
            _fraction_count(test_fraction, total),
            _fraction_count(val_fraction, total),
            seed,
            str(folder),
        )
        parts = {
            split: (images[torch.from_numpy(idx)], torch.from_numpy(labels[idx]))
            for split, idx in (("train", train), ("val", val), ("test", test))
        }
        return _make_splits("imagefolder", parts, class_names, resolution)

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
    test_count = 0 if "test" in split_dirs else _fraction_count(test_fraction, total)
    val_count = 0 if "val" in split_dirs else _fraction_count(val_fraction, total)
    train, val, test = _three_way(labels, test_count, val_count, seed, str(train_dir))
    parts = {
        split: (images[torch.from_numpy(idx)], torch.from_numpy(labels[idx]))
        for split, idx in (("train", train), ("val", val), ("test", test))
    }
    for split in ("val", "test"):
        if split in split_dirs:
            split_images, split_labels = _read_class_folders(folder / split, class_names, resolution, every_class=False)
            parts[split] = (split_images, torch.from_numpy(split_labels))
    return _make_splits("imagefolder", parts, class_names, resolution)


_LOADERS: dict[str, Callable[[Any, int, int, float, float], DataSplits]] = {
    "cifar10": _load_cifar10,
    "digits": _load_digits,
    "imagefolder": _load_imagefolder,
}
