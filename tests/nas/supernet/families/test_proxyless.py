"""The once-for-all ProxylessNAS family: its spec format, its checkpoint layout, its structure, extraction, memory."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from torch import nn

from nas.supernet.families.proxyless import ElasticProxylessNAS, ProxylessSubnet
from nas.supernet.families.proxyless.memory import ProxylessMemory
from nas.supernet.registry import create_supernet, published_net
from nas.testing import randomize_
from predictors.memory import inference_peak_bytes, mcunet_peak_bytes, training_memory, weight_bytes
from search_spaces import InvalidArchError, get_space, parse_arch

NET = "ofa_proxyless_d234_e346_k357_w1.3"


def _configs(benchdata: Path) -> list[dict[str, object]]:
    return json.loads((benchdata / "ofa_import" / f"{NET}.configs.json").read_text())


# ---------------------------------------------------------------------- the spec format
def test_published_specs_are_read_and_written_in_once_for_alls_format(benchdata: Path) -> None:
    space = get_space("ofa_proxyless_w13")
    configs = _configs(benchdata)
    for config in configs:
        arch = space.from_ofa_config(config)
        assert parse_arch(json.dumps(config), space) == arch
        written = space.to_ofa_config(arch)
        assert written is not None and list(written) == ["wid", "ks", "e", "d", "r"]
        assert written["r"] == config["r"] and written["d"][:5] == config["d"][:5]  # type: ignore[index]
        assert written["d"][5] == 4  # the one-block stage: once-for-all clamps d to 1; we write the largest depth
        assert space.from_ofa_config(json.loads(json.dumps(written))) == arch
        assert "s6_depth" not in arch and {"s6_b1_kernel", "s6_b1_expand"} <= set(arch.to_dict())
    assert space.to_ofa_config(space.largest()) == configs[0]  # what once-for-all writes for its largest net


def test_the_one_block_stage_takes_any_depth_and_bad_specs_name_their_field() -> None:
    space = get_space("ofa_proxyless_w13")
    spec = space.to_ofa_config(space.smallest())
    assert spec is not None and len(spec["ks"]) == len(spec["e"]) == 21 and len(spec["d"]) == 6
    for depth in (1, 2, 3, 4):
        assert space.from_ofa_config({**spec, "d": [2] * 5 + [depth]}) == space.smallest()
    bad = {
        "d[0]": {**spec, "d": [1] + [2] * 5},  # 1 is the last stage's depth only
        "d[5]": {**spec, "d": [2] * 5 + [5]},
        "ks[20]": {**spec, "ks": [3] * 20 + [4]},
        "e": {**spec, "e": [3] * 20},
        "wid": {**spec, "wid": 1.0},
        "r": {**spec, "r": [100]},
    }
    for field, config in bad.items():
        with pytest.raises(InvalidArchError) as caught:
            space.from_ofa_config(config)
        assert caught.value.field == field, caught.value


# ---------------------------------------------------------------------- structure and the published layout
def test_supernet_keys_and_shapes_are_exactly_the_published_files(benchdata: Path) -> None:
    manifest = json.loads((benchdata / "ofa_import" / f"{NET}.keys.json").read_text())
    net = published_net(NET)
    with torch.device("meta"):
        supernet = create_supernet(net.space, net.num_classes, **net.options)
    ours = {net.checkpoint_key(key): list(tensor.shape) for key, tensor in supernet.state_dict().items()}
    assert ours == {key: shape for key, shape, _ in manifest["entries"]}
    # the published count leaves out the 21 blocks' kernel transforms (81 + 625 entries each)
    assert sum(p.numel() for p in supernet.parameters()) == manifest["params"] + 21 * (81 + 625)


def test_every_layer_is_once_for_alls_relu6_with_batch_norm_epsilon_1e3() -> None:
    space = get_space("ofa_proxyless_w13_small")
    supernet = create_supernet("ofa_proxyless_w13_small", num_classes=10)
    subnet = supernet.extract(space.sample(random.Random(1)))
    for network in (supernet, subnet):
        norms = [m for m in network.modules() if isinstance(m, nn.BatchNorm2d)]
        assert norms and all(m.eps == 1e-3 for m in norms)
        activations = {type(m) for m in network.modules() if isinstance(m, (nn.ReLU, nn.ReLU6, nn.Hardswish))}
        assert activations == {nn.ReLU6}
    assert isinstance(subnet, ProxylessSubnet) and not subnet.blocks[0].use_residual  # the first block has none
    feature_map = subnet.blocks(subnet.stem(torch.randn(1, 3, 32, 32)))
    assert tuple(feature_map.shape) == (1, space.stages[-1].width, 4, 4)  # 32x32 ends as 4x4, as 224 as 7x7


def test_extraction_is_exact_in_float64_for_every_kernel_expand_and_depth() -> None:
    supernet = randomize_(create_supernet("ofa_proxyless_w13_small", num_classes=10), seed=2).double().eval()
    assert isinstance(supernet, ElasticProxylessNAS)
    space = supernet.space
    images = torch.randn(2, 3, 24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    spec = {"ks": [3, 5, 7] * 7, "e": [6, 4, 3] * 7, "d": [2, 3, 4, 2, 3, 4], "r": 24}  # every choice somewhere
    arch = space.from_ofa_config(spec)
    with torch.no_grad():
        supernet.set_active(arch)
        expected = supernet(images)
        got = supernet.extract(arch)(images)
    assert ((got - expected).abs().max() / expected.abs().max()).item() <= 1e-12


# ---------------------------------------------------------------------- memory
@pytest.mark.parametrize("name", ["ofa_proxyless_w13", "ofa_proxyless_w13_small"])
def test_composed_memory_equals_the_whole_network(name: str) -> None:
    space = get_space(name)
    memory = ProxylessMemory(space, 10)
    rng = random.Random(3)
    for arch in [space.smallest(), space.largest(), space.sample(rng)]:
        size = int(arch["resolution"])
        net = ProxylessSubnet(space, arch, 10, device="meta")
        assert memory.inference_peak_bytes(arch, 2) == inference_peak_bytes(net, (2, 3, size, size))
        assert memory.mcunet_peak_bytes(arch) == mcunet_peak_bytes(net, (1, 3, size, size))
        for dtype in ("float32", "int8"):
            assert memory.weights_bytes(arch, dtype) == weight_bytes(net, dtype)["total"]
        whole = training_memory(net, (4, 3, size, size), "adam")
        composed = memory.training(arch, 4, "adam")
        assert composed.optimizer_state_bytes == whole.optimizer_state_bytes
        assert composed.activations_bytes == whole.activations_bytes
    assert memory.inference_peak_bytes(space.smallest()) < memory.inference_peak_bytes(space.largest())
