"""``nas export --format timm``: a subnet written as a native timm model (``timm/config.json``,
``timm/model.safetensors`` under timm's key names and the stand-alone ``timm/load_timm.py``), rebuilt as timm's own
class with ``strict=True`` and computing the supernet's logits; the 32x32 spaces keep their stride-1 stem; the
``pretrained_cfg`` reproduces the evaluation's preprocessing; families without a timm form are refused with the
reason. The ResNet family's own checks are in ``test_timm_resnet.py``."""

from __future__ import annotations

import ast
import json
import math
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file
from timm.layers import make_divisible as timm_make_divisible
from timm.models._efficientnet_builder import decode_arch_def

import nas
from nas.cli import main
from nas.data import DataSplits, load_dataset
from nas.data.preprocessing import evaluation_preprocessing, ofa_crop
from nas.export import FORMATS, export_subnet, load_subnet
from nas.export.formats import _head
from nas.export.timm_format import check_timm, load_timm_export
from nas.export.timm_loader import load_timm_model
from nas.export.verify import supernet_outputs
from nas.supernet.families.mobilenetv3.timm_export import timm_expand_ratio
from nas.supernet.registry import FAMILIES
from nas.testing import randomize_
from search_spaces import CheckpointError, ConfigError, make_divisible
from tests.nas.export.test_export import _one_thread, arch_images, digits

__all__ = ["_one_thread", "digits"]

TOLERANCE = 1e-6
FAST: dict[str, Any] = {"latency": False, "calibration_images": 64, "tolerance": TOLERANCE}
LOADER_IMPORTS = {"__future__", "json", "sys", "functools", "pathlib", "torch", "timm", "safetensors"}
"""What ``load_timm.py`` may import (top-level package names): nothing of the platform."""


def supernet_file(folder: Path, name: str, num_classes: int = 10) -> Path:
    """A supernet of ``name`` with random weights and BN statistics, saved."""
    path = folder / f"{name}.pt"
    nas.save_supernet(randomize_(nas.create_supernet(name, num_classes=num_classes), seed=1), path)
    return path


def at_resolution(space: Any, arch: nas.Arch, resolution: int) -> nas.Arch:
    return space.validate({**arch.to_dict(), "resolution": resolution})


def rebuilt_parity(out: Path, supernet_path: Path, images: torch.Tensor) -> float:
    """Max abs difference of the rebuilt timm model's logits from the supernet's own forward for the exported arch
    (with the export's recalibrated BN statistics, read back from the pytorch format)."""
    subnet = load_subnet(out)
    reference = supernet_outputs(nas.load_supernet(supernet_path), subnet.arch, subnet, images)
    with torch.no_grad():
        logits = load_timm_model(out / "timm")(images)
    return float((logits - reference).abs().max())


CASES = [
    ("ofa_mbv3_small", "random", "MobileNetV3", 1),
    ("ofa_mbv3_w12", "smallest", "MobileNetV3", None),
    ("ofa_proxyless_w13_small", "random", "EfficientNet", 1),
    ("ofa_mbv3", "random", "MobileNetV3", None),
]


@pytest.mark.parametrize(("name", "which", "timm_class", "stem_stride"), CASES, ids=[case[0] for case in CASES])
def test_timm_export_rebuilds_timms_own_class_with_the_supernets_logits(
    tmp_path: Path, digits: DataSplits, name: str, which: str, timm_class: str, stem_stride: int | None
) -> None:
    space = nas.get_space(name)
    arch = space.smallest() if which == "smallest" else space.sample(random.Random(7))
    arch = at_resolution(space, arch, min(space.resolutions))  # the smallest resolution keeps the test quick
    supernet_path = supernet_file(tmp_path, name)
    out = tmp_path / "export"
    card = export_subnet(supernet_path, arch, out, ["pytorch", "timm"], digits, **FAST)
    assert card["parity"]["max_abs_diff"]["timm"] <= TOLERANCE
    assert [f["name"] for f in card["formats"]["timm"]["files"]] == list(FORMATS["timm"].files)

    config = json.loads((out / "timm" / "config.json").read_text())
    assert config["format"] == "nas-timm" and config["timm_class"] == timm_class
    assert config["space"] == name and space.validate(config["arch"]) == arch and config["num_classes"] == 10
    assert config["stem_stride"] == stem_stride
    model = load_timm_model(out / "timm")
    assert isinstance(model, getattr(timm.models, timm_class)) and not model.training
    assert set(model.state_dict()) == set(load_file(out / "timm" / "model.safetensors"))  # strict, under timm's names
    assert model.conv_stem.stride == (stem_stride or 2,) * 2
    images = arch_images(digits, arch, 4)
    assert rebuilt_parity(out, supernet_path, images) <= TOLERANCE
    card_md = (out / "card.md").read_text()
    assert "## timm" in card_md and "from load_timm import load_timm_model" in card_md


def test_the_shipped_loader_runs_alone_in_a_fresh_interpreter(tmp_path: Path, digits: DataSplits) -> None:
    out = tmp_path / "export"
    export_subnet(supernet_file(tmp_path, "ofa_mbv3_small"), "smallest", out, ["timm"], digits, **FAST)
    loader = out / "timm" / "load_timm.py"
    assert loader.read_text() == (Path(nas.__file__).parent / "export" / "timm_loader.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(loader.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= LOADER_IMPORTS
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, str(loader), str(out / "timm")], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "timm MobileNetV3" in done.stdout and "10 classes" in done.stdout and "[3, 24, 24]" in done.stdout


def test_families_without_a_timm_form_are_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for family in FAMILIES.names():
        registered = FAMILIES.get(family)
        assert registered.timm_export is not None or registered.timm_note, family
    with pytest.raises(ConfigError, match=r"family 'spiking'.*timm has no spiking"):
        check_timm(nas.get_space("spiking_resnet"))
    with pytest.raises(ConfigError, match=r"family 'qcfs'"):
        check_timm(nas.get_space("qcfs_resnet"))
    supernet_path = tmp_path / "spiking.pt"
    nas.save_supernet(nas.create_supernet("spiking_resnet", num_classes=10), supernet_path)
    out = tmp_path / "out"
    command = ["export", "--supernet", str(supernet_path), "--arch", "smallest", "--format", "pytorch", "timm"]
    assert main([*command, "--out", str(out), "--no-latency"]) == 2
    message = capsys.readouterr().err
    assert "family 'spiking'" in message and "timm has no spiking" in message
    assert not out.exists()


def _image_folder(root: Path) -> Path:
    """Two classes of random RGB images of unequal sides, as files."""
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for index in range(6):
            size = (150 + 7 * index, 190 - 5 * index)
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{index}.png")
    return root


def test_pretrained_cfg_reproduces_the_evaluation_preprocessing(tmp_path: Path, digits: DataSplits) -> None:
    # ImageNet-style evaluation (an image folder at 128 px): shorter side to ceil(128 / 0.875), centre crop, ImageNet
    # mean and std; timm's own transform of the exported cfg gives exactly the evaluation's input
    data = load_dataset("imagefolder", _image_folder(tmp_path / "images"), resolution=128)
    assert data.crop_fraction == 0.875
    out = tmp_path / "imagenet"
    supernet_path = supernet_file(tmp_path, "ofa_mbv3", num_classes=2)
    arch = at_resolution(nas.get_space("ofa_mbv3"), nas.get_space("ofa_mbv3").smallest(), 128)
    export_subnet(supernet_path, arch, out, ["timm"], data, **FAST)
    model = load_timm_model(out / "timm")
    cfg = json.loads((out / "timm" / "config.json").read_text())["pretrained_cfg"]
    assert model.pretrained_cfg == cfg
    assert cfg["input_size"] == [3, 128, 128] and cfg["crop_mode"] == "center"
    assert cfg["mean"] == [0.485, 0.456, 0.406] and cfg["std"] == [0.229, 0.224, 0.225]
    assert math.floor(128 / cfg["crop_pct"]) == math.ceil(128 / 0.875) and cfg["interpolation"] == "bilinear"
    transform = timm.data.create_transform(**timm.data.resolve_data_config(model=model))
    image = Image.open(tmp_path / "images" / "dog" / "3.png").convert("RGB")
    expected = (torch.from_numpy(ofa_crop(image, 128)).permute(2, 0, 1) - torch.tensor(cfg["mean"])[:, None, None]) / (
        torch.tensor(cfg["std"])[:, None, None]
    )
    torch.testing.assert_close(transform(image), expected, atol=1e-6, rtol=0)
    assert "shorter side resized to 147 px (bilinear), centre crop 128 x 128" in (out / "card.md").read_text()

    # small images stretched whole and normalized with the train split's statistics: squash mode, no crop
    out = tmp_path / "digits"
    export_subnet(supernet_file(tmp_path, "ofa_proxyless_w13_small"), "largest", out, ["timm"], digits, **FAST)
    cfg = json.loads((out / "timm" / "config.json").read_text())["pretrained_cfg"]
    assert cfg["input_size"] == [3, 32, 32] and (cfg["crop_mode"], cfg["crop_pct"]) == ("squash", 1.0)
    assert cfg["mean"] == list(digits.train.mean) and cfg["std"] == list(digits.train.std)  # type: ignore[attr-defined]
    assert cfg["num_classes"] == 10


def test_a_crop_keeps_its_field_of_view_at_another_resolution(digits: DataSplits) -> None:
    cropped = replace(digits, resolution=128, crop_fraction=0.875)
    assert evaluation_preprocessing(cropped, 128).resize_side == 147  # ceil(128 / 0.875)
    assert evaluation_preprocessing(cropped, 160).resize_side == round(160 * 147 / 128)
    assert evaluation_preprocessing(digits, 32).resize_side is None


def test_every_once_for_all_hidden_width_has_an_exact_timm_expand_ratio() -> None:
    for name in ("ofa_mbv3", "ofa_mbv3_w12", "ofa_proxyless_w13"):
        space = nas.get_space(name)
        widths = {space.stem_width, space.first_block_width} | {stage.width for stage in space.stages}
        for channels in widths:
            for expand in space.expand_ratios:
                hidden = make_divisible(round(channels * expand))
                ratio = timm_expand_ratio(channels, hidden)
                assert timm_make_divisible(channels * float(ratio)) == hidden
    assert timm_expand_ratio(24, 72) == "3" and timm_expand_ratio(20, 56) == "2.8"


def test_timm_models_export_in_the_pytorch_format_too() -> None:
    convolutional = timm.models.MobileNetV3(decode_arch_def([["ds_r1_k3_s1_e1_c16"]]), num_classes=3, drop_rate=0.2)
    transformer = timm.models.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=4
    )
    transformer.head_drop.p = 0.3
    assert _head(convolutional) == (3, 0.2) and _head(transformer) == (4, 0.3)


def test_load_timm_export_finds_the_timm_folder_and_refuses_damage(tmp_path: Path, digits: DataSplits) -> None:
    out = tmp_path / "export"
    export_subnet(supernet_file(tmp_path, "ofa_mbv3_small"), "smallest", out, ["timm"], digits, **FAST)
    assert isinstance(load_timm_export(out), timm.models.MobileNetV3)
    assert isinstance(load_timm_export(out / "timm"), timm.models.MobileNetV3)
    with pytest.raises(CheckpointError, match="holds no timm export"):
        load_timm_export(tmp_path)
    config = json.loads((out / "timm" / "config.json").read_text())
    (out / "timm" / "config.json").write_text(json.dumps({**config, "stem_stride": None, "num_classes": 3}))
    load_timm_export(out)  # timm's stride-2 stem has the same weights: only parity would tell
    older = {key: value for key, value in config.items() if key not in ("stem", "bottlenecks")}
    (out / "timm" / "config.json").write_text(json.dumps(older))
    load_timm_export(out)  # a config from before the ResNet entries
    wrong = {**config, "model_args": {**config["model_args"], "num_classes": 3}}
    (out / "timm" / "config.json").write_text(json.dumps(wrong))
    with pytest.raises(CheckpointError, match="classifier"):
        load_timm_export(out)
    (out / "timm" / "config.json").write_text(json.dumps({**config, "format": "other"}))
    with pytest.raises(CheckpointError, match="not a nas-timm export"):
        load_timm_export(out)
