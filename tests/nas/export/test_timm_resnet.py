"""``nas export --format timm`` of once-for-all ResNet subnets: timm's own ``ResNet`` (deep stem with its residual
middle convolution run or skipped, every bottleneck's own middle width, average-pool shortcuts, the small space's
strides and missing max pool) computing the subnet's logits, loaded strictly by the shipped ``load_timm.py`` alone."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

import nas
from nas.data import DataSplits
from nas.export import export_subnet
from nas.export.timm_format import write_timm
from nas.export.timm_loader import load_timm_model
from nas.supernet.families.resnet.static import Downsample, ResNetSubnet
from nas.supernet.families.resnet.timm_export import resnet_timm_spec
from nas.testing import randomize_
from search_spaces import Arch, ConfigError
from tests.nas.export.test_export import _one_thread, arch_images, digits
from tests.nas.export.test_timm_format import FAST, TOLERANCE, at_resolution, rebuilt_parity, supernet_file

__all__ = ["_one_thread", "digits"]

SMALL, FULL = "ofa_resnet50_small", "ofa_resnet50"
SIDE = {SMALL: 28, FULL: 44}
"""Input sides whose feature maps turn odd on the way (7 px; 11 and 3 px), so ceil-mode shortcut pools are met."""
STEMS = {
    "skip": {"stem_depth": 2, "stem_mid_width": 0.65, "stem_width": 1.0},  # stem out 64, not timm's 2 * 24
    "residual": {"stem_depth": 3, "stem_mid_width": 1.0, "stem_width": 0.65},  # 32 -> 32 -> 40
}


def arch_of(name: str, which: str) -> Arch:
    """The space's smallest or largest arch, or a seeded random one with a ``STEMS`` stem."""
    space = nas.get_space(name)
    if which in ("smallest", "largest"):
        return getattr(space, which)()
    return space.validate({**space.sample(random.Random(len(which))).to_dict(), **STEMS[which]})


def exported(name: str, which: str, folder: Path, dtype: torch.dtype = torch.float32) -> tuple[Arch, torch.Tensor]:
    """``which`` arch's static subnet with random weights, written in the timm format into ``folder``; its arch
    and logits on random images."""
    space, arch = nas.get_space(name), arch_of(name, which)
    subnet = randomize_(ResNetSubnet(space, arch, num_classes=10), seed=3).eval().to(dtype)
    images = torch.randn(2, 3, SIDE[name], SIDE[name], generator=torch.Generator().manual_seed(0), dtype=dtype)
    write_timm(subnet, images, folder)
    with torch.no_grad():
        return arch, subnet(images)


CASES = [(SMALL, "smallest"), (SMALL, "largest"), (SMALL, "skip"), (FULL, "smallest"), (FULL, "residual")]


@pytest.mark.parametrize(("name", "which"), CASES, ids=[f"{name}-{which}" for name, which in CASES])
def test_a_resnet_subnet_is_timms_resnet_with_its_logits(tmp_path: Path, name: str, which: str) -> None:
    arch, expected = exported(name, which, tmp_path)
    config = json.loads((tmp_path / "timm" / "config.json").read_text())
    space = nas.get_space(name)
    depths = [int(arch[space.depth_label(stage)]) for stage in range(1, 5)]
    assert config["timm_class"] == "ResNet" and config["model_args"]["layers"] == depths
    assert config["stem"]["residual"] == (arch["stem_depth"] == 3) and config["stem_stride"] is None
    assert config["stem"]["max_pool"] == (name == FULL)
    assert [stage["stride"] for stage in config["bottlenecks"]] == [stage.stride for stage in space.stages]
    assert [len(stage["widths"]) for stage in config["bottlenecks"]] == depths
    model = load_timm_model(tmp_path / "timm")
    assert type(model) is timm.models.ResNet and not model.training
    weights = load_file(tmp_path / "timm" / "model.safetensors")
    assert set(model.state_dict()) == set(weights) and "conv1.6.weight" in weights and "fc.weight" in weights
    assert ("conv1.3.weight" in weights) == (arch["stem_depth"] == 3)
    images = torch.randn(2, 3, SIDE[name], SIDE[name], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert float((model(images) - expected).abs().max()) <= TOLERANCE


def test_the_timm_resnet_matches_in_double_precision(tmp_path: Path) -> None:
    _, expected = exported(FULL, "skip", tmp_path, torch.float64)
    model = load_timm_model(tmp_path / "timm").double()
    images = torch.randn(2, 3, SIDE[FULL], SIDE[FULL], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        assert float((model(images) - expected).abs().max()) <= 1e-12


FRESH = """
import runpy, sys, timm, torch
from safetensors.torch import load_file, save_file
torch.set_num_threads(1)  # as the test process: the same summation order, so fp32 logits agree to 1e-6
sys.argv = ["load_timm.py"]
loader = runpy.run_path("load_timm.py", run_name="__main__")  # the script itself: loads its folder, prints a summary
model = loader["load_timm_model"](".")
assert type(model) is timm.models.ResNet, type(model)
with torch.no_grad():
    save_file({"logits": model(load_file("../images.safetensors")["images"])}, "../logits.safetensors")
"""


def test_the_shipped_loader_rebuilds_the_resnet_in_a_fresh_interpreter(tmp_path: Path) -> None:
    _, expected = exported(SMALL, "residual", tmp_path)
    images = torch.randn(2, 3, SIDE[SMALL], SIDE[SMALL], generator=torch.Generator().manual_seed(0))
    save_file({"images": images}, str(tmp_path / "images.safetensors"))
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", FRESH], cwd=tmp_path / "timm", env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "timm ResNet" in done.stdout and "10 classes" in done.stdout and "[3, 28, 28]" in done.stdout
    logits = load_file(tmp_path / "logits.safetensors")["logits"]
    assert float((logits - expected).abs().max()) <= TOLERANCE


def test_an_export_of_a_resnet_supernet_passes_its_timm_parity_check(tmp_path: Path, digits: DataSplits) -> None:
    space = nas.get_space(SMALL)
    arch = at_resolution(space, arch_of(SMALL, "skip"), 28)
    supernet_path = supernet_file(tmp_path, SMALL)
    out = tmp_path / "export"
    card = export_subnet(supernet_path, arch, out, ["pytorch", "timm"], digits, **FAST)
    assert card["parity"]["max_abs_diff"]["timm"] <= TOLERANCE and card["formats"]["timm"]["details"]["timm_class"]
    assert rebuilt_parity(out, supernet_path, arch_images(digits, arch, 4)) <= TOLERANCE
    assert "timm's own `ResNet`" in (out / "card.md").read_text()


def test_shapes_timms_resnet_cannot_hold_are_refused() -> None:
    space = nas.get_space(SMALL)
    subnet = ResNetSubnet(space, space.smallest(), num_classes=10, device="meta")
    with pytest.raises(TypeError, match="ResNetSubnet"):
        resnet_timm_spec(space, space.smallest(), torch.nn.Linear(1, 1))
    second = subnet.blocks[1]  # an identity shortcut, as timm's
    second.downsample = Downsample(second.conv1.conv.in_channels, second.conv3.conv.out_channels, 1, "meta")
    with pytest.raises(ConfigError, match="shortcut convolution where the shape does not change"):
        resnet_timm_spec(space, space.smallest(), subnet)
