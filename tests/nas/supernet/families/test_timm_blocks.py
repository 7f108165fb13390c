"""The timm ``arch_def`` family: the five timm models reproduced by their supernets' original subnets, random
subnets equal to their extracted timm models (fp32 and fp64), loading strictly into timm's class rebuilt from the
emitted ``arch_def``, costs equal to the counter's, and the features that cannot be elastic refused by name."""

from __future__ import annotations

import copy
import random
import subprocess
import sys
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode

from nas.export.timm_loader import build_timm_model
from nas.supernet.families.timm_blocks import FAMILY, from_timm, static_subnet
from nas.supernet.registry import cost_model, create_supernet
from nas.testing.supernet import randomize_
from search_spaces import ConfigError, InvalidArchError, get_space
from tests.conftest import REPO_ROOT

MODELS = {
    "timm_mobilenetv3_large_100": "mobilenetv3_large_100",
    "timm_efficientnet_b0": "efficientnet_b0",
    "timm_fbnetv3_b": "fbnetv3_b",
    "timm_mnasnet_100": "mnasnet_100",
    "timm_mobilenetv4_conv_small": "mobilenetv4_conv_small",
}
RANDOM_ARCHS = 20
SIDE = 32  # equivalence is exact at any size; small images keep the test fast


def _images(seed: int, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed))


def _flop_macs(model: torch.nn.Module, side: int) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.to("meta")(torch.empty(1, 3, side, side, device="meta"))
    return counter.get_total_flops() // 2


@pytest.fixture(scope="module", params=sorted(MODELS))
def reproduced(request: pytest.FixtureRequest):
    """(space name, timm model with random weights and BN statistics, supernet warm-started from it)."""
    reference = randomize_(timm.create_model(MODELS[request.param], pretrained=False), seed=2).eval()
    supernet = from_timm(request.param, weights=reference.state_dict()).eval()
    return request.param, reference, supernet


def test_the_timm_model_is_reproduced_by_its_original_subnet(reproduced) -> None:
    name, reference, supernet = reproduced
    original = supernet.space.original()
    supernet.set_active(original)
    images = _images(0)
    with torch.no_grad():
        assert (supernet(images) - reference(images)).abs().max().item() <= 1e-6, name
        extracted = supernet.extract(original)
    assert type(extracted) is type(reference)
    expected = reference.state_dict()
    assert list(extracted.state_dict()) == list(expected)
    assert all(torch.equal(tensor, expected[key]) for key, tensor in extracted.state_dict().items())


def test_larger_choices_start_as_the_original_after_a_warm_start(reproduced) -> None:
    """Zeros around a centred kernel and beyond the original's input columns: every larger kernel and expand ratio
    computes the timm model's function until trained."""
    name, reference, supernet = reproduced
    space = supernet.space
    values = space.original().to_dict()
    for decision in space.decisions()[1:]:
        if decision.label in values and not decision.label.endswith("depth"):
            values[decision.label] = decision.choices[-1]
    supernet.set_active(values)
    images = _images(1)
    with torch.no_grad():
        assert (supernet(images) - reference(images)).abs().max().item() <= 1e-5, name


@pytest.fixture(scope="module", params=[*sorted(MODELS), "timm_mobilenetv3_large_100_small"])
def randomized(request: pytest.FixtureRequest):
    """A supernet of the space with random weights, BN statistics and kernel transforms, in eval mode."""
    return randomize_(create_supernet(request.param, num_classes=10), seed=4).eval()


def test_random_subnets_are_their_extracted_timm_models(randomized) -> None:
    supernet = randomized
    space = supernet.space
    double = copy.deepcopy(supernet, memo={id(space): space}).double()
    costs = cost_model(space, supernet.num_classes)
    rng = random.Random(7)
    count = RANDOM_ARCHS if space.name in MODELS else 5
    archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(count - 2)]
    for index, arch in enumerate(archs):
        images = _images(index, batch=1)
        with torch.no_grad():
            supernet.set_active(arch)
            extracted = supernet.extract()
            assert (supernet(images) - extracted(images)).abs().max().item() <= 1e-6, arch
            double.set_active(arch)
            wide = double.extract()
            assert (double(images.double()) - wide(images.double())).abs().max().item() <= 1e-10, arch
        # timm's class rebuilt from the exported JSON alone (the stand-alone loader) loads the weights strictly
        spec = FAMILY.timm_export(space, arch, static_subnet(space, arch, supernet.num_classes, device="meta"))
        config = {"timm_class": spec.timm_class, "model_args": spec.model_args, "stem_stride": spec.stem_stride}
        with torch.device("meta"):
            rebuilt = build_timm_model(config)
        assert type(rebuilt).__name__ == spec.timm_class
        rebuilt.load_state_dict(extracted.state_dict(), strict=True, assign=True)
        if index % 4 == 0:  # the rebuilt model computes the same (gates and strides have no weights to compare)
            with torch.no_grad():
                assert torch.equal(rebuilt.eval()(images), extracted(images))
        side = int(arch["resolution"])
        params = sum(p.numel() for p in extracted.parameters())
        assert supernet.params(arch) == costs.params(arch) == params, arch
        assert supernet.macs(arch) == costs.macs(arch) == _flop_macs(extracted, side), arch


def test_the_small_image_space_has_a_stride_one_stem_and_downsamples_by_8() -> None:
    space = get_space("timm_mobilenetv3_large_100_small")
    arch = space.sample(random.Random(0))
    subnet = static_subnet(space, arch, 10)
    assert subnet.conv_stem.stride == (1, 1)
    assert subnet.forward_features(torch.zeros(1, 3, 32, 32)).shape[-2:] == (4, 4)
    assert FAMILY.timm_export(space, arch, subnet).stem_stride == 1
    assert space.resolutions == (24, 28, 32)


def test_labels_follow_timm_stages_and_the_original_arch_is_in_the_space() -> None:
    space = get_space("timm_mobilenetv3_large_100")
    original = space.original()
    # blocks.3 of mobilenetv3_large_100: ir k3 e6, e2.5, e2.3, e2.3; blocks.0 (ds) and blocks.6 (cn 1x1) are fixed
    assert [original[f"s3_b{b}_expand"] for b in range(1, 5)] == [6.0, 2.5, 2.3, 2.3]
    assert original["s3_depth"] == 4 and original["s5_b1_kernel"] == 5
    assert not any(label.startswith(("s0_", "s6_")) for label in space.labels())
    decisions = {d.label: d.choices for d in space.decisions()}
    assert decisions["s3_b2_expand"] == (2.5, 3.0, 4.0, 6.0)
    assert decisions["s3_b1_kernel"] == (3, 5, 7) and decisions["s3_depth"] == (2, 3, 4)
    with pytest.raises(InvalidArchError):
        space.validate({**original.to_dict(), "s3_b1_kernel": 9})


@pytest.mark.parametrize(
    ("model", "feature"),
    [
        ("mixnet_s", "mixed kernels"),
        ("efficientnet_cc_b0_4e", "CondConv"),
        ("mobilenetv4_hybrid_medium", "attention"),
        ("tf_efficientnet_b0", "padding"),
        ("resnet18", "not an arch_def network"),
        ("no_such_model", "unknown timm model"),
    ],
)
def test_features_that_cannot_be_elastic_are_refused_by_name(model: str, feature: str) -> None:
    with pytest.raises(ConfigError, match=feature):
        from_timm(model)


def test_bad_choices_are_refused() -> None:
    for choices, field in (({"kernel": [4]}, "choices.kernel"), ({"width": [1]}, "choices.width")):
        with pytest.raises(ConfigError) as error:
            from_timm("mnasnet_100", choices=choices)
        assert error.value.field == field


def test_from_timm_with_choices_registers_a_space_and_loads_weight_files(tmp_path: Path) -> None:
    reference = randomize_(timm.create_model("mnasnet_small", pretrained=False), seed=5).eval()
    path = tmp_path / "mnasnet_small.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    torch.save({"state_dict": reference.state_dict()}, tmp_path / "checkpoint.pth")
    choices = {"kernel": [3, 5], "expand": [3, 6], "depth_drop": 1, "resolution": [64, 96]}
    for weights in (path, tmp_path / "checkpoint.pth"):
        supernet = from_timm("mnasnet_small", choices=choices, weights=weights).eval()
        space = supernet.space
        assert space.resolutions == (64, 96) and space.name.startswith("timm_mnasnet_small_")
        assert {c for d in space.decisions() if d.label.endswith("kernel") for c in d.choices} <= {3, 5}
        supernet.set_active(space.original())
        with torch.no_grad():
            assert (supernet(_images(3)) - reference(_images(3))).abs().max().item() <= 1e-6
    with pytest.raises(ConfigError, match="lack"):
        from_timm("mnasnet_small", choices=choices, weights={"conv_stem.weight": reference.conv_stem.weight})
    with pytest.raises(ConfigError, match="does not exist"):
        from_timm("mnasnet_small", choices=choices, weights=tmp_path / "missing.pth")


def test_import_nas_does_not_import_timm() -> None:
    code = "import sys, nas; nas.get_space('timm_efficientnet_b0'); assert 'timm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, capture_output=True)
