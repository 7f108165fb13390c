"""The once-for-all ResNet family: its spec format, its checkpoint layout, extraction, channel sorting, memory."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
import torch

from nas.supernet.families.resnet import ElasticResNet, ResNetSubnet
from nas.supernet.families.resnet.memory import ResNetMemory
from nas.supernet.registry import create_supernet, published_net
from nas.testing import randomize_
from predictors.memory import inference_peak_bytes, mcunet_peak_bytes, training_memory, weight_bytes
from search_spaces import InvalidArchError, get_space, parse_arch

OFA_IMPORT = Path("/work/shared/benchdata/ofa_import")
needs_manifests = pytest.mark.skipif(not OFA_IMPORT.is_dir(), reason="once-for-all manifests not available")


@pytest.fixture(scope="module")
def small_supernet() -> ElasticResNet:
    """``ofa_resnet50_small`` with random weights, in float64 so equivalence checks can be tight."""
    supernet = create_supernet("ofa_resnet50_small", num_classes=10)
    assert isinstance(supernet, ElasticResNet)
    return randomize_(supernet, seed=2).double().eval()


def _relative(first: torch.Tensor, second: torch.Tensor) -> float:
    return ((first - second).abs().max() / second.abs().max()).item()


# ---------------------------------------------------------------------- the spec format
@needs_manifests
def test_published_specs_round_trip_through_json() -> None:
    space = get_space("ofa_resnet50")
    for config in json.loads((OFA_IMPORT / "ofa_resnet50.configs.json").read_text()):
        arch = space.from_ofa_config(config)
        written = space.to_ofa_config(arch)
        assert written is not None and list(written) == ["d", "e", "w", "r"]
        assert written["w"] == config["w"] and written["r"] == config["r"] and written["d"][1:] == config["d"][1:]
        assert written["d"][0] == (2 if config["d"][0] == 2 else 0)
        assert space.from_ofa_config(json.loads(json.dumps(written))) == arch
        assert parse_arch(json.dumps(config), space) == arch
        for stage in range(1, 5):  # only active blocks' ratios are kept
            depth = int(arch[space.depth_label(stage)])
            assert space.block_label(stage, depth + 1, "expand") not in arch


def test_stem_depth_reads_once_for_all_d0() -> None:
    space = get_space("ofa_resnet50")
    written = space.to_ofa_config(space.largest())
    assert written is not None and written["d"][0] == 2 and written["e"] == [0.35] * 18 and written["w"] == [2] * 6
    for d0, stem_depth in ((0, 2), (1, 2), (2, 3)):
        assert space.from_ofa_config({**written, "d": [d0, 2, 2, 2, 2]})["stem_depth"] == stem_depth
    arch = space.from_ofa_config({**written, "d": [0, 0, 1, 2, 0], "r": 160})
    assert [arch[space.depth_label(stage)] for stage in range(1, 5)] == [2, 3, 6, 2]
    again = space.to_ofa_config(arch)
    assert again is not None and again["r"] == [160] and again["e"][2:4] == [0.35, 0.35]  # inactive slots repeat


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"e": [0.35] * 17 + [0.3]}, "e[17]"),
        ({"w": [2, 2, 2, 2, 2, 3]}, "w[5]"),
        ({"d": [3, 2, 2, 2, 2]}, "d[0]"),
        ({"d": [2, 2, 2, 2]}, "d"),
        ({"r": [225]}, "r"),
        ({"wid": 1}, "wid"),
        ({"ks": [3] * 18}, "ks"),
    ],
)
def test_invalid_specs_name_the_field(change: dict[str, object], field: str) -> None:
    space = get_space("ofa_resnet50")
    config = {**space.to_ofa_config(space.largest()), **change}  # type: ignore[dict-item]
    with pytest.raises(InvalidArchError) as caught:
        space.from_ofa_config(config)
    assert caught.value.field == field


def test_widths_follow_once_for_all_rounding() -> None:
    space = get_space("ofa_resnet50")
    assert [space.stem_widths(mult) for mult in space.width_mults] == [(24, 40), (24, 48), (32, 64)]
    assert [space.stage_width(4, mult) for mult in space.width_mults] == [1328, 1640, 2048]
    assert space.middle_width(256, 0.35) == 88 and space.middle_width(168, 0.2) == 32


# ---------------------------------------------------------------------- the published checkpoint's layout
@needs_manifests
def test_checkpoint_keys_map_onto_the_published_manifest() -> None:
    manifest = json.loads((OFA_IMPORT / "ofa_resnet50.keys.json").read_text())
    net = published_net("ofa_resnet50")
    supernet = create_supernet(net.space, net.num_classes, **net.options)
    ours = {net.checkpoint_key(key): list(value.shape) for key, value in supernet.state_dict().items()}
    theirs = {key: shape for key, shape, _ in manifest["entries"]}
    assert ours == theirs
    assert sum(p.numel() for p in supernet.parameters()) == manifest["params"]


# ---------------------------------------------------------------------- computing
def test_extraction_is_exact_for_every_stem_and_shortcut(small_supernet: ElasticResNet) -> None:
    space = small_supernet.space
    rng = random.Random(0)
    archs = [space.smallest(), space.largest(), space.sample(rng)]
    assert {arch["stem_depth"] for arch in archs} == {2, 3}
    images = torch.randn(2, 3, 16, 16, dtype=torch.float64)  # extraction is exact at any size; small is fast
    with torch.no_grad():
        for arch in archs:
            small_supernet.set_active(arch)
            expected = small_supernet(images)
            subnet = small_supernet.extract()
            assert isinstance(subnet, ResNetSubnet)
            assert ("residual" in dict(subnet.stem.named_children())) == (arch["stem_depth"] == 3)
            assert _relative(subnet(images), expected) <= 1e-12, arch
            rebuilt = ResNetSubnet(space, arch, 10, device="meta")
            rebuilt.load_state_dict(subnet.state_dict(), strict=True, assign=True)
            assert torch.equal(rebuilt.eval()(images), subnet(images))
    # shortcuts: a downsample where a stage starts, identity inside it
    blocks = list(small_supernet.extract(space.largest()).blocks)
    assert [block.downsample is not None for block in blocks] == [index in (0, 4, 8, 14) for index in range(18)]


def test_sort_channels_keeps_the_largest_function_and_orders_the_middle(small_supernet: ElasticResNet) -> None:
    supernet = copy.deepcopy(small_supernet, memo={id(small_supernet.space): small_supernet.space})
    space = supernet.space
    images = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    arch, narrow = space.largest(), space.smallest()
    with torch.no_grad():
        supernet.set_active(arch)
        expected = supernet(images)
        supernet.set_active(narrow)
        narrow_before = supernet(images)
        supernet.sort_channels()
        supernet.set_active(arch)
        assert _relative(supernet(images), expected) <= 1e-12
        supernet.set_active(narrow)
        assert _relative(supernet(images), narrow_before) > 1e-6  # narrow subnets now keep other channels
    for blocks in supernet.stages:
        for block in blocks:
            for consumer in (block.conv3, block.conv2):
                importance = consumer.conv.conv.weight.abs().sum((0, 2, 3))
                assert torch.all(importance[:-1] >= importance[1:])


# ---------------------------------------------------------------------- memory
def test_composed_memory_equals_the_whole_network() -> None:
    space = get_space("ofa_resnet50_small")
    memory = ResNetMemory(space, 10)
    rng = random.Random(3)
    for arch in [space.smallest(), space.largest(), space.sample(rng)]:
        size = int(arch["resolution"])
        net = ResNetSubnet(space, arch, 10, device="meta")
        assert memory.inference_peak_bytes(arch, 2) == inference_peak_bytes(net, (2, 3, size, size))
        assert memory.mcunet_peak_bytes(arch) == mcunet_peak_bytes(net, (1, 3, size, size))
        assert memory.weights_bytes(arch, "int8") == weight_bytes(net, "int8")["total"]
        whole = training_memory(net, (4, 3, size, size), "adam")
        composed = memory.training(arch, 4, "adam")
        assert composed.optimizer_state_bytes == whole.optimizer_state_bytes
        assert composed.activations_bytes == whole.activations_bytes
