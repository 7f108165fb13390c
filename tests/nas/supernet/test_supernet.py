"""Every registered supernet: forward/backward, exact extraction, channel sorting, save/load (timm-style registry
loop, so a new supernet is covered the moment it is registered)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

import nas
from nas.supernet.families.spiking.network import SpikingResNet
from nas.supernet.registry import static_subnet
from tests.conftest import randomize_

NUM_CLASSES = 10
HEAVY_PARAMS = 20_000_000


def _contract_spaces() -> list[str]:
    """Every supernet, but for the timm-built families and the ViT only their 32 px spaces: their full-size spaces
    (128-224 px) have their own contract tests (tests/nas/supernet/families/test_timm_blocks.py, test_vit.py), and
    running these on them too cost the suite minutes."""
    own_suites = {"timm_blocks", "vit"}
    return [
        name
        for name in nas.list_supernets()
        if nas.family_of(name).name not in own_suites or int(nas.get_space(name).largest()["resolution"]) <= 64
    ]


@pytest.fixture(scope="module", params=_contract_spaces())
def supernet(request: pytest.FixtureRequest) -> torch.nn.Module:
    model = nas.create_supernet(request.param, num_classes=NUM_CLASSES)
    return randomize_(model, seed=1).eval()


def _input(resolution: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 3, resolution, resolution, generator=torch.Generator().manual_seed(seed))


def test_forward_and_backward_reach_every_active_parameter(supernet: torch.nn.Module) -> None:
    supernet.train()
    try:
        arch = supernet.space.largest()
        supernet.set_active(arch)
        loss = supernet(_input(min(arch["resolution"], 64))).logsumexp(1).mean()
        loss.backward()
        # kernel transforms only act below the largest kernel, so the largest arch leaves them untouched
        grads = {n: p.grad for n, p in supernet.named_parameters() if "transform_" not in n}
        assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
        supernet.zero_grad(set_to_none=True)
        supernet.set_active(supernet.space.smallest())
        patch = getattr(supernet.space, "patch_size", 1)  # a vision transformer takes whole patches
        supernet(_input(-(-24 // patch) * patch)).logsumexp(1).mean().backward()
        if any("transform_" in n for n, _ in supernet.named_parameters()):  # elastic-kernel transforms (OFA)
            transforms = [p.grad for n, p in supernet.named_parameters() if "transform_" in n and p.grad is not None]
            assert transforms and all(g.abs().sum() > 0 for g in transforms)
    finally:
        supernet.zero_grad(set_to_none=True)
        supernet.eval()


def test_extracted_subnets_equal_the_supernet(supernet: torch.nn.Module) -> None:
    space = supernet.space
    rng = random.Random(0)
    # 100 random archs; 20 for heavy networks (ResNet-50: ~1 s an arch on 2 cores), whose contract suite checks more
    count = 100 if supernet.params(space.largest()) < HEAVY_PARAMS else 20
    archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(count)]
    worst = 0.0
    with torch.no_grad():
        for index, arch in enumerate(archs):
            # ofa_mbv3 at full resolution is slow on CPU; equivalence does not depend on input size
            resolution = min(int(arch["resolution"]), 64)
            x = _input(resolution, seed=index)
            supernet.set_active(arch)
            expected = supernet(x)
            subnet = supernet.extract(arch)
            worst = max(worst, (subnet(x) - expected).abs().max().item())
    assert worst <= 1e-5


def test_extracted_subnet_is_plain_and_independent(supernet: torch.nn.Module) -> None:
    arch = supernet.space.sample(random.Random(5))
    subnet = supernet.extract(arch)
    dynamic = [m for m in subnet.modules() if type(m).__module__.startswith("nas.layers.dynamic")]
    assert not dynamic
    assert all(p.device.type == "cpu" for p in subnet.parameters())
    # loads strictly into a freshly built static network of the same arch
    if isinstance(supernet, SpikingResNet):
        fresh = SpikingResNet(supernet.space, NUM_CLASSES, neuron=supernet.neuron_kind, arch=arch)
    else:
        fresh = static_subnet(supernet.space, arch, NUM_CLASSES)  # the family's own static network
    fresh.load_state_dict(subnet.state_dict(), strict=True)
    # owns its weights: changing the subnet leaves the supernet unchanged
    before = next(supernet.parameters()).clone()  # the stem's convolution, in either network
    with torch.no_grad():
        next(subnet.parameters()).add_(1.0)
    assert torch.equal(next(supernet.parameters()), before)


def test_channel_sorting_keeps_the_function_and_orders_importance() -> None:
    model = randomize_(nas.create_supernet("ofa_mbv3_small", num_classes=NUM_CLASSES), seed=3).eval()
    arch = model.space.largest()
    x = _input(32)
    with torch.no_grad():
        before = model(x)
        model.sort_channels()
        after = model(x)
    assert (before - after).abs().max().item() <= 1e-5
    for block in model.active_blocks():
        importance = block.project_conv.conv.weight.abs().sum((0, 2, 3))
        assert torch.all(importance[:-1] >= importance[1:])
    assert model.active_arch == arch


def test_save_and_load_round_trip(supernet: torch.nn.Module, tmp_path: Path) -> None:
    path = supernet.save(tmp_path / "supernet.pt")
    loaded = nas.load_supernet(path).eval()
    arch = supernet.space.sample(random.Random(9))
    x = _input(min(int(arch["resolution"]), 64))
    supernet.set_active(arch)
    loaded.set_active(arch)
    with torch.no_grad():
        assert torch.equal(supernet(x), loaded(x))


def test_arch_of_another_space_is_refused(supernet: torch.nn.Module) -> None:
    other = next(name for name in nas.list_spaces() if name != supernet.space.name)
    with pytest.raises(nas.InvalidArchError, match=r"cannot run on a (supernet|network)"):
        supernet.set_active(nas.get_space(other).largest())


def test_unknown_supernet_lists_valid_names() -> None:
    with pytest.raises(nas.UnknownNameError) as caught:
        nas.create_supernet("resnet_9000")
    for name in nas.list_supernets():
        assert name in str(caught.value)
