"""once-for-all's ImageNet evaluation preprocessing of ``imagefolder`` (shorter side to ceil(r/0.875), bilinear,
centre crop r, ImageNet mean/std), checked on generated images of odd sizes, and keeping some classes of a data set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.data import load_dataset, parse_class_selection
from nas.data.preprocessing import IMAGENET_MEAN, IMAGENET_STD, OFA_MIN_RESOLUTION, ofa_resize_side
from search_spaces.errors import ConfigError

# (width, height, PIL mode) of the generated images: odd sizes, portrait and landscape, grayscale and RGBA
ODD_IMAGES = [(301, 217, "RGB"), (173, 259, "L"), (131, 130, "RGB"), (257, 199, "RGBA")]


def _image(width: int, height: int, mode: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)


def _folder(tmp_path: Path, images: dict[str, list[Image.Image]]) -> Path:
    """ROOT/{train,val,test}/{a,b}/: ``images[split]`` alternate between the two classes, in file order."""
    for split, split_images in images.items():
        for index, image in enumerate(split_images):
            folder = tmp_path / split / "ab"[index % 2]
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{index:03d}.png")
    return tmp_path


def _normalized(array: np.ndarray) -> torch.Tensor:
    """HWC floats in [0, 1] -> normalized CHW like ToTensor + Normalize(IMAGENET_MEAN, IMAGENET_STD)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (tensor - mean) / std


def test_resize_side_is_ceil_of_r_over_0875() -> None:
    assert [ofa_resize_side(r) for r in (128, 160, 192, 224, 129)] == [147, 183, 220, 256, 148]
    assert all(ofa_resize_side(r) == math.ceil(r / 0.875) for r in range(OFA_MIN_RESOLUTION, 257))


@pytest.mark.parametrize("resolution", [129, 160])
def test_imagefolder_matches_torchvision_ofa_eval_transform_on_odd_sizes(tmp_path: Path, resolution: int) -> None:
    transforms = pytest.importorskip("torchvision.transforms", reason="torchvision defines the reference transform")
    images = [_image(w, h, mode, seed) for seed, (w, h, mode) in enumerate(ODD_IMAGES)]
    root = _folder(tmp_path, {"train": images[:2], "val": images, "test": images[2:]})
    data = load_dataset("imagefolder", root, resolution=resolution)
    reference = transforms.Compose(
        [
            transforms.Resize(math.ceil(resolution / 0.875), interpolation=transforms.InterpolationMode.BILINEAR),
            transforms.CenterCrop(resolution),
            transforms.ToTensor(),
            transforms.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD),
        ]
    )
    # val/ is read class by class (a: images 0, 2; b: images 1, 3), each class's files in name order
    expected = torch.stack([reference(images[i].convert("RGB")) for i in (0, 2, 1, 3)])
    assert data.val.images.shape == (4, 3, resolution, resolution)
    assert data.val.labels.tolist() == [0, 0, 1, 1]
    assert torch.allclose(data.val.images, expected, atol=1e-5)
    assert data.train.mean == pytest.approx(IMAGENET_MEAN) and data.test.std == pytest.approx(IMAGENET_STD)


def test_image_whose_short_side_is_already_the_resize_side_is_only_centre_cropped(tmp_path: Path) -> None:
    """r = 129: the shorter side 148 = ceil(129 / 0.875) needs no resize; the crop starts at round((201-129)/2) = 36
    rows and round((148-129)/2) = round(9.5) = 10 columns (round half to even, as torchvision)."""
    exact = _image(148, 201, "RGB", seed=7)
    root = _folder(tmp_path, {"train": [exact, _image(150, 150, "RGB", 8)]})
    data = load_dataset("imagefolder", root, resolution=129, val_fraction=0.0, test_fraction=0.4)
    both = torch.cat([data.train.images, data.test.images])
    labels = torch.cat([data.train.labels, data.test.labels])
    pixels = np.asarray(exact, dtype=np.float32) / 255.0
    expected = _normalized(pixels[36 : 36 + 129, 10 : 10 + 129])
    assert torch.allclose(both[labels == 0][0], expected, atol=1e-6)


def test_below_imagenet_resolutions_images_are_stretched_and_train_normalized(tmp_path: Path) -> None:
    images = [_image(w, h, mode, seed) for seed, (w, h, mode) in enumerate(ODD_IMAGES)]
    root = _folder(tmp_path, {"train": images, "val": images[:2]})
    data = load_dataset("imagefolder", root, resolution=OFA_MIN_RESOLUTION - 1)
    assert data.val.images.shape[-1] == OFA_MIN_RESOLUTION - 1
    assert data.train.mean != pytest.approx(IMAGENET_MEAN)  # the train split's own statistics


def test_classes_keep_some_classes_relabelled_in_order() -> None:
    whole = load_dataset("digits", resolution=8)
    upper = load_dataset("digits", resolution=8, classes=parse_class_selection("9,5-7"))
    assert upper.num_classes == 4 and upper.class_names == ("9", "5", "6", "7")
    for split in ("train", "val", "test"):
        full, kept = getattr(whole, split), getattr(upper, split)
        for new_label, name in enumerate(upper.class_names):
            original = full.images[full.labels == int(name)]
            assert torch.equal(kept.images[kept.labels == new_label], original)
    assert upper.train.mean == whole.train.mean  # normalized as the whole data set


@pytest.mark.parametrize(
    ("text", "names"), [("5-9", ["5", "6", "7", "8", "9"]), ("cat, dog", ["cat", "dog"]), ("3,0-1", ["3", "0", "1"])]
)
def test_class_selection_text(text: str, names: list[str]) -> None:
    assert parse_class_selection(text) == names


@pytest.mark.parametrize("text", ["9-5", "1,,2", "1-3,2"])
def test_bad_class_selection_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="classes"):
        parse_class_selection(text)


@pytest.mark.parametrize("classes", [["5"], ["5", "x"], "5-9"])
def test_bad_classes_argument_is_a_config_error(classes: object) -> None:
    with pytest.raises(ConfigError, match="class"):
        load_dataset("digits", resolution=8, classes=classes)  # type: ignore[arg-type]
