"""Per-arch memory composed from parts equals the whole-network estimate, and is fast enough for a search."""

from __future__ import annotations

import random

import pytest

from nas.supernet.families.mobilenetv3.memory import SubnetMemory
from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet
from predictors.memory import inference_peak_bytes, mcunet_peak_bytes, training_memory, weight_bytes
from search_spaces import ConfigError, get_space
from tests.timing import fastest_of


@pytest.mark.parametrize("name", ["ofa_mbv3", "ofa_mbv3_small"])
def test_composed_figures_equal_the_whole_network(name: str) -> None:
    space = get_space(name)
    memory = SubnetMemory(space, 10)
    rng = random.Random(3)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(3))]:
        size = int(arch["resolution"])
        net = MobileNetV3Subnet(space, arch, 10, device="meta")
        assert memory.inference_peak_bytes(arch, 2) == inference_peak_bytes(net, (2, 3, size, size))
        assert memory.mcunet_peak_bytes(arch) == mcunet_peak_bytes(net, (1, 3, size, size))
        for dtype in ("float32", "int8"):
            assert memory.weights_bytes(arch, dtype) == weight_bytes(net, dtype)["total"]
        whole = training_memory(net, (4, 3, size, size), "adam")
        composed = memory.training(arch, 4, "adam")
        assert composed.optimizer_state_bytes == whole.optimizer_state_bytes
        assert composed.activations_bytes == whole.activations_bytes


def test_larger_archs_need_more_memory_and_figures_are_cached() -> None:
    space = get_space("ofa_mbv3_small")
    memory = SubnetMemory(space, 10)
    small, large = space.smallest(), space.largest()
    assert memory.inference_peak_bytes(small) < memory.inference_peak_bytes(large)
    assert memory.training(small, 8).total_bytes < memory.training(large, 8).total_bytes
    assert memory.inference_peak_bytes(large, 8) > 4 * memory.inference_peak_bytes(large, 1)
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(60)]
    for arch in archs:  # warm the per-part cache
        memory.report(arch)
    _, seconds = fastest_of(lambda: [memory.inference_peak_bytes(arch) for arch in archs])
    assert seconds / len(archs) < 2e-3


def test_bad_memory_arguments_are_typed_errors() -> None:
    space = get_space("ofa_mbv3_small")
    memory = SubnetMemory(space, 10)
    with pytest.raises(ConfigError, match="batch=0"):
        memory.inference_peak_bytes(space.smallest(), 0)
    with pytest.raises(ConfigError, match="optimizer='rmsprop'"):
        memory.training(space.smallest(), 2, "rmsprop")
