"""Tests of nas.data: the digits, cifar10 and imagefolder data sets and their error handling."""

from __future__ import annotations

import math
import os
import pickle
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from nas.data import DataSplits, TensorImageDataset, list_datasets, load_dataset
from search_spaces.errors import ConfigError, DataError, UnknownNameError

CIFAR_NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


def unnormalize(dataset: Any, images: torch.Tensor) -> torch.Tensor:
    """Undo the per-channel normalization of ``images`` (N, 3, H, W) with the dataset's mean and std."""
    mean = torch.tensor(dataset.mean).view(1, 3, 1, 1)
    std = torch.tensor(dataset.std).view(1, 3, 1, 1)
    return images * std + mean


# ------------------------------------------------------------------------------------------------- common


def test_list_datasets() -> None:
    assert list_datasets() == ["cifar10", "digits", "imagefolder"]


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(
        UnknownNameError, match=r"unknown data set 'mnist'; valid data sets: cifar10, digits, imagefolder"
    ):
        load_dataset("mnist")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resolution", 7),
        ("resolution", 513),
        ("resolution", 32.0),
        ("resolution", True),
        ("resolution", "32"),
        ("val_fraction", -0.1),
        ("val_fraction", 0.5),
        ("val_fraction", float("nan")),
        ("test_fraction", 0.0),
        ("test_fraction", 0.5),
        ("seed", -1),
    ],
)
def test_bad_parameters_raise_config_error(field: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset("digits", **{field: value})
    assert info.value.field == field
    assert field in str(info.value) and repr(value) in str(info.value)


def test_tensor_dataset_checks_shapes() -> None:
    dataset = TensorImageDataset(torch.zeros(4, 3, 8, 8), torch.arange(4))
    image, label = dataset[3]
    assert len(dataset) == 4 and tuple(image.shape) == (3, 8, 8) and label == 3 and type(label) is int
    with pytest.raises(ConfigError, match="labels"):
        TensorImageDataset(torch.zeros(4, 3, 8, 8), torch.arange(3))
    with pytest.raises(ConfigError, match="3 channels"):
        TensorImageDataset(torch.zeros(4, 1, 8, 8), torch.arange(4))


# ------------------------------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_dataset("digits")


def test_digits_shapes_and_classes(digits: DataSplits) -> None:
    assert digits.name == "digits" and digits.resolution == 32
    assert digits.num_classes == 10 and digits.class_names == tuple(str(i) for i in range(10))
    for split in (digits.train, digits.val, digits.test):
        image, label = split[0]
        assert image.dtype == torch.float32 and tuple(image.shape) == (3, 32, 32)
        assert type(label) is int and 0 <= label < 10
    assert {int(v) for v in digits.train.labels.unique()} == set(range(10))
    assert len(digits.train) + len(digits.val) + len(digits.test) == 1797
    assert (len(digits.val), len(digits.test)) == (180, 360)


def test_digits_other_resolution() -> None:
    splits = load_dataset("digits", resolution=24)
    assert splits.resolution == 24
    assert tuple(splits.train[0][0].shape) == (3, 24, 24)
    assert tuple(splits.test.images.shape[1:]) == (3, 24, 24)


def test_digits_train_normalization(digits: DataSplits) -> None:
    images = digits.train.images
    assert torch.allclose(images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(images.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3)
    assert digits.val.mean == digits.test.mean == digits.train.mean
    assert digits.val.std == digits.test.std == digits.train.std
    # grayscale repeated to 3 channels
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])


def test_digits_splits_partition_the_data_stratified() -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    index_of = {row.tobytes(): i for i, row in enumerate(bunch.images.astype(np.int64).reshape(len(bunch.images), -1))}
    assert len(index_of) == 1797  # the source images are distinct, so images identify samples
    splits = load_dataset("digits", resolution=8)
    found: dict[str, list[int]] = {}
    for name in ("train", "val", "test"):
        dataset = getattr(splits, name)
        pixels = torch.round(unnormalize(dataset, dataset.images)[:, 0] * 16).to(torch.int64).numpy()
        found[name] = [index_of[row.reshape(-1).tobytes()] for row in pixels]
        assert [int(bunch.target[i]) for i in found[name]] == dataset.labels.tolist()
    all_found = found["train"] + found["val"] + found["test"]
    assert sorted(all_found) == list(range(1797))  # disjoint and complete
    class_sizes = Counter(int(t) for t in bunch.target)
    test_counts = Counter(int(bunch.target[i]) for i in found["test"])
    for label, size in class_sizes.items():
        assert abs(test_counts[label] - 0.2 * size) <= 1.5


def test_digits_seed_controls_the_split(digits: DataSplits) -> None:
    same = load_dataset("digits", seed=0)
    other = load_dataset("digits", seed=1)
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(same, name).images, getattr(digits, name).images)
        assert torch.equal(getattr(same, name).labels, getattr(digits, name).labels)
    assert not torch.equal(other.test.labels, digits.test.labels) or not torch.equal(
        other.test.images, digits.test.images
    )


def test_digits_refuses_root(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bundled") as info:
        load_dataset("digits", root=tmp_path)
    assert info.value.field == "root"


# ------------------------------------------------------------------------------------------------ cifar10


def _dump(path: Path, content: Any, protocol: int, legacy_numpy: bool = False) -> None:
    payload = pickle.dumps(content, protocol=protocol)
    if legacy_numpy:  # the real CIFAR-10 files name numpy.core.multiarray (written by numpy 1.x)
        payload = payload.replace(b"numpy._core.", b"numpy.core.")
    path.write_bytes(payload)


def write_fake_cifar(
    root: Path, protocol: int = pickle.DEFAULT_PROTOCOL, legacy_numpy: bool = False, per_batch: int = 20
) -> dict[str, Any]:
    """Write a tiny ``cifar-10-batches-py`` under ``root``; returns the labels and test images written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train_labels: list[int] = []
    for index in range(1, 6):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [(i + index) % 10 for i in range(per_batch)]
        train_labels += labels
        content = {b"batch_label": f"training batch {index} of 5".encode(), b"labels": labels, b"data": data}
        _dump(folder / f"data_batch_{index}", content, protocol, legacy_numpy)
    test_data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
    planes = test_data.reshape(per_batch, 3, 32, 32)
    planes[0, 0], planes[0, 1], planes[0, 2] = 200, 0, 0  # image 0: red plane constant, no green or blue
    planes[1] = 0
    planes[1, 1, 0, 5] = 255  # image 1: one green pixel at row 0, column 5
    test_labels = [i % 10 for i in range(per_batch)]
    _dump(folder / "test_batch", {b"labels": test_labels, b"data": test_data}, protocol, legacy_numpy)
    meta = {b"label_names": CIFAR_NAMES, b"num_cases_per_batch": per_batch, b"num_vis": 3072}
    _dump(folder / "batches.meta", meta, protocol, legacy_numpy)
    return {
        "folder": folder,
        "train_labels": train_labels,
        "test_labels": test_labels,
        "test_data": test_data,
    }


@pytest.mark.parametrize(("protocol", "legacy_numpy"), [(2, True), (2, False), (4, False), (5, False)])
def test_cifar10_loads_fake_batches(tmp_path: Path, protocol: int, legacy_numpy: bool) -> None:
    written = write_fake_cifar(tmp_path, protocol, legacy_numpy)
    splits = load_dataset("cifar10", root=tmp_path, seed=3)
    assert splits.name == "cifar10" and splits.num_classes == 10 and splits.resolution == 32
    assert splits.class_names == tuple(n.decode() for n in CIFAR_NAMES)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (90, 10, 20)
    assert splits.test.labels.tolist() == written["test_labels"]
    merged = splits.train.labels.tolist() + splits.val.labels.tolist()
    assert Counter(merged) == Counter(written["train_labels"])
    assert sorted(splits.val.labels.tolist()) == list(range(10))  # stratified: one of each class
    assert splits.train.images.dtype == torch.float32 and tuple(splits.train[0][0].shape) == (3, 32, 32)
    assert torch.allclose(splits.train.images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)

    test = unnormalize(splits.test, splits.test.images)
    expected = torch.from_numpy(written["test_data"].reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    assert torch.allclose(test, expected, atol=1e-5)
    red = test[0]
    assert torch.allclose(red[0], torch.full((32, 32), 200 / 255), atol=1e-5)
    assert torch.allclose(red[1:], torch.zeros(2, 32, 32), atol=1e-5)
    green = test[1]
    assert green[1, 0, 5] == pytest.approx(1.0, abs=1e-5)
    assert green[1].sum() == pytest.approx(1.0, abs=1e-4) and green[0].abs().sum() < 1e-4


def test_cifar10_root_may_be_the_batches_folder_and_resolution_changes(tmp_path: Path) -> None:
    written = write_fake_cifar(tmp_path)
    parent = load_dataset("cifar10", root=str(tmp_path), val_fraction=0.2)
    direct = load_dataset("cifar10", root=written["folder"], val_fraction=0.2)
    assert len(parent.val) == 20
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(parent, name).images, getattr(direct, name).images)
        assert torch.equal(getattr(parent, name).labels, getattr(direct, name).labels)
    small = load_dataset("cifar10", root=tmp_path, resolution=16)
    assert tuple(small.test.images.shape) == (20, 3, 16, 16)
    red = unnormalize(small.test, small.test.images[:1])[0]
    assert torch.allclose(red[0], torch.full((16, 16), 200 / 255), atol=1e-4)


def test_cifar10_missing_data_is_a_data_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=re.escape(str(missing))):
        load_dataset("cifar10", root=missing)
    with pytest.raises(DataError, match=r"cifar-10-batches-py.*never downloaded"):
        load_dataset("cifar10", root=tmp_path)
    with pytest.raises(DataError, match="root"):
        load_dataset("cifar10")
    written = write_fake_cifar(tmp_path)
    (written["folder"] / "data_batch_3").unlink()
    with pytest.raises(DataError, match=re.escape(str(written["folder"] / "data_batch_3"))):
        load_dataset("cifar10", root=tmp_path)


class _Hostile:
    """Pickles as a call of os.system: loading it with a plain unpickler would run a shell command."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo pwned",))


def test_cifar10_refuses_hostile_pickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_fake_cifar(tmp_path)
    target = written["folder"] / "data_batch_2"
    payload = pickle.dumps({b"data": _Hostile(), b"labels": [0]})
    assert b"system" in payload
    target.write_bytes(payload)
    calls: list[str] = []
    # Should the loader ever resolve os.system, it gets this recorder: the test never runs a command.
    monkeypatch.setattr(sys.modules[os.system.__module__], "system", calls.append)
    monkeypatch.setattr(os, "system", calls.append)
    with pytest.raises(DataError, match=r"refusing to unpickle \S*system from") as info:
        load_dataset("cifar10", root=tmp_path)
    assert str(target) in str(info.value)
    assert calls == []


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_type", "wrong_shape"])
def test_cifar10_corrupt_file_is_a_data_error(tmp_path: Path, damage: str) -> None:
    written = write_fake_cifar(tmp_path)
    target = written["folder"] / "data_batch_4"
    if damage == "truncate":
        content = target.read_bytes()
        target.write_bytes(content[: len(content) // 2])
    elif damage == "garbage":
        target.write_bytes(b"this is not a pickle at all")
    elif damage == "wrong_type":
        target.write_bytes(pickle.dumps([1, 2, 3]))
    else:
        target.write_bytes(pickle.dumps({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}))
    with pytest.raises(DataError, match=re.escape(str(target))):
        load_dataset("cifar10", root=tmp_path)


# -------------------------------------------------------------------------------------------- imagefolder


def write_image(path: Path, mode: str, size: tuple[int, int], color: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def write_flat_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "fish"), per_class: int = 5) -> None:
    """Solid images whose red value (a multiple of 10) is unique, in mixed sizes and modes."""
    sizes = [(12, 10), (20, 16), (8, 8)]
    for c, name in enumerate(classes):
        for i in range(per_class):
            value = 10 * (c * per_class + i + 1)
            if i % 2:
                write_image(root / name / f"{i}.png", "L", sizes[i % 3], value)
            else:
                write_image(root / name / f"{i}.png", "RGB", sizes[i % 3], (value, 255 - value, 0))


def red_values(dataset: Any) -> list[int]:
    """The (unique) red value of each solid image of ``dataset``, recovered from the normalized tensors."""
    red = unnormalize(dataset, dataset.images)[:, 0]
    assert torch.allclose(red, red[:, :1, :1].expand_as(red), atol=1e-4)  # still solid after resizing
    return [round(float(v) * 255) for v in red[:, 0, 0]]


def test_imagefolder_flat_layout(tmp_path: Path) -> None:
    write_flat_folder(tmp_path)
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    splits = load_dataset("imagefolder", root=tmp_path, resolution=16, val_fraction=0.2, test_fraction=0.2)
    assert splits.name == "imagefolder" and splits.class_names == ("cat", "dog", "fish")
    assert splits.num_classes == 3 and splits.resolution == 16
    assert (len(splits.train), len(splits.val), len(splits.test)) == (9, 3, 3)
    assert tuple(splits.train[0][0].shape) == (3, 16, 16)
    assert sorted(splits.test.labels.tolist()) == [0, 1, 2]  # stratified
    values = red_values(splits.train) + red_values(splits.val) + red_values(splits.test)
    assert sorted(values) == [10 * k for k in range(1, 16)]  # disjoint and complete
    for dataset in (splits.train, splits.val, splits.test):
        for value, label in zip(red_values(dataset), dataset.labels.tolist(), strict=True):
            assert (value // 10 - 1) // 5 == label
    assert torch.allclose(splits.train.images.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    again = load_dataset("imagefolder", root=tmp_path, resolution=16, val_fraction=0.2, test_fraction=0.2)
    assert torch.equal(again.test.images, splits.test.images)


def test_imagefolder_split_layout(tmp_path: Path) -> None:
    for name in ("a", "b"):
        for i in range(4):
            write_image(tmp_path / "train" / name / f"{i}.png", "RGB", (9, 7), (20 * i, 0, 0))
        write_image(tmp_path / "val" / name / "v.jpg", "L", (8, 8), 128)
    write_image(tmp_path / "test" / "a" / "0.png", "RGB", (20, 12), (10, 200, 30))
    write_image(tmp_path / "test" / "b" / "0.png", "I;16", (8, 8), 65535)
    write_image(tmp_path / "test" / "b" / "1.bmp", "L", (4, 6), 50)
    splits = load_dataset("imagefolder", root=tmp_path, resolution=8)
    assert splits.class_names == ("a", "b")
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8, 2, 3)
    assert splits.val.labels.tolist() == [0, 1] and splits.test.labels.tolist() == [0, 1, 1]
    test = unnormalize(splits.test, splits.test.images)
    colour = torch.tensor([10, 200, 30]).view(3, 1, 1) / 255
    assert torch.allclose(test[0], colour.expand(3, 8, 8), atol=1e-4)
    assert torch.allclose(test[1], torch.ones(3, 8, 8), atol=1e-4)
    assert torch.allclose(test[2], torch.full((3, 8, 8), 50 / 255), atol=1e-4)


def test_imagefolder_missing_val_is_carved_from_train(tmp_path: Path) -> None:
    write_flat_folder(tmp_path / "train", classes=("a", "b"), per_class=5)
    write_flat_folder(tmp_path / "test", classes=("a", "b"), per_class=1)
    splits = load_dataset("imagefolder", root=tmp_path, resolution=8, val_fraction=0.2, test_fraction=0.3)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (8, 2, 2)
    assert sorted(splits.val.labels.tolist()) == [0, 1]
    assert sorted(red_values(splits.train) + red_values(splits.val)) == [10 * k for k in range(1, 11)]


def test_imagefolder_split_class_mismatch(tmp_path: Path) -> None:
    write_flat_folder(tmp_path / "train", classes=("a", "b"), per_class=3)
    write_flat_folder(tmp_path / "val", classes=("a", "c"), per_class=1)
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "val")) + r".*missing \['b'\]"):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_unreadable_image_names_the_file(tmp_path: Path) -> None:
    write_flat_folder(tmp_path)
    bad = tmp_path / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG but then garbage" * 3)
    with pytest.raises(DataError, match=re.escape(str(bad))):
        load_dataset("imagefolder", root=tmp_path)


def test_imagefolder_empty_or_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(DataError, match=re.escape(str(missing))):
        load_dataset("imagefolder", root=missing)
    with pytest.raises(DataError, match="root"):
        load_dataset("imagefolder")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=re.escape(str(empty))):
        load_dataset("imagefolder", root=empty)
    (empty / "a").mkdir()
    (empty / "b").mkdir()
    (empty / "b" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match="no images"):
        load_dataset("imagefolder", root=empty)


def test_imagefolder_needs_two_classes_and_enough_images(tmp_path: Path) -> None:
    write_flat_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(DataError, match="at least 2 classes"):
        load_dataset("imagefolder", root=tmp_path / "one")
    write_flat_folder(tmp_path / "tiny", classes=("a", "b"), per_class=1)
    with pytest.raises(DataError, match="too few"):
        load_dataset("imagefolder", root=tmp_path / "tiny")
    splits = load_dataset("imagefolder", root=tmp_path / "tiny", val_fraction=0.0, test_fraction=0.4)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1, 0, 1)
    assert math.isfinite(sum(splits.train.std))
