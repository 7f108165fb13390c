"""The supernet contract: what :mod:`nas.supernet.base` promises of every :class:`~nas.supernet.base.Supernet`, and
what its registered family promises besides (cost model, latency parts, static subnet).

A family's tests subclass :class:`SupernetContract` in a ``Test*`` class and provide a ``supernet_name`` fixture
(a space with a supernet); the :func:`supernet_name` fixture here yields every registered one. Weights and batch
norm statistics are randomized first (:func:`randomize_`), so equivalence checks are not trivially met by a
freshly initialised network.
"""

from __future__ import annotations

import copy
import math
import random
from functools import lru_cache
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from nas.supernet.base import Supernet
from nas.supernet.checkpoint import load_supernet
from nas.supernet.registry import (
    Family,
    cost_model,
    create_supernet,
    family_of,
    list_supernets,
    metric_definitions,
    part_model,
    static_subnet,
)
from search_spaces import Arch, ConfigError, InvalidArchError, SearchSpace, get_space, list_spaces

__all__ = ["SupernetContract", "randomize_", "supernet_name"]


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic distinct random values, so equivalence tests are not trivial.

    Running variances stay positive; ``transform_`` parameters (elastic-kernel transforms, initialised to the
    identity) are perturbed rather than replaced, so they stay close to what training starts from.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(0.5 + noise.abs())
            elif "transform_" in name:
                tensor.add_(0.1 * noise)
            else:
                tensor.copy_(0.2 * noise)
    return model


@pytest.fixture(params=list_supernets())
def supernet_name(request: pytest.FixtureRequest) -> str:
    """Every space with a registered supernet, one test run each."""
    return request.param


@lru_cache(maxsize=8)
def _randomized(name: str, num_classes: int) -> Supernet:
    """The supernet of ``name`` with random weights and BN statistics, in eval mode; tests get copies of it."""
    return randomize_(create_supernet(name, num_classes=num_classes), seed=1).eval()


def _flop_macs(model: nn.Module, images: Tensor) -> int:
    """MACs of one forward pass as ``FlopCounterMode`` counts them (flops / 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(images)
    return counter.get_total_flops() // 2


def _worst(first: Tensor, second: Tensor) -> float:
    return (first - second).abs().max().item()


class SupernetContract:
    """The tests every supernet passes; needs a ``supernet_name`` fixture.

    Class attributes size the checks: ``num_classes`` of the supernet built, ``batch`` of the forward passes,
    ``random_archs`` drawn per check (besides the smallest and the largest), ``max_resolution`` of the images the
    equivalence checks run on (extraction is exact at any size; MACs are counted at the arch's own resolution on
    the meta device) and ``tolerance`` of the equivalence checks.
    """

    num_classes = 10
    batch = 2
    random_archs = 2
    max_resolution = 64
    in_channels = 3
    tolerance = 1e-5

    # ------------------------------------------------------------------ fixtures and helpers
    @pytest.fixture
    def supernet(self, supernet_name: str) -> Supernet:
        """A fresh supernet with random weights and BN statistics, in eval mode (a copy of one built per name)."""
        pristine = _randomized(supernet_name, self.num_classes)
        return copy.deepcopy(pristine, memo={id(pristine.space): pristine.space})  # spaces are shared, not copied

    def resolution(self, arch: Arch) -> int:
        """The input side ``arch`` is built for (every space with a supernet has a ``resolution`` decision)."""
        return int(arch["resolution"])

    def images(self, arch: Arch, batch: int | None = None, seed: int = 0) -> Tensor:
        """A seeded batch of images for ``arch``, at most :attr:`max_resolution` on a side."""
        side = min(self.resolution(arch), self.max_resolution)
        shape = (batch or self.batch, self.in_channels, side, side)
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    def archs(self, space: SearchSpace, seed: int = 0) -> list[Arch]:
        """The smallest, the largest and :attr:`random_archs` seeded random archs of ``space``."""
        rng = random.Random(seed)
        return [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(self.random_archs)]

    def family(self, supernet: Supernet) -> Family:
        """The registered family of ``supernet``'s space."""
        family = family_of(supernet.space)
        assert family is not None, f"no family is registered for space {supernet.space.name!r}"
        return family

    def output_shape(self, supernet: Supernet, arch: Arch, batch: int) -> tuple[int, ...]:
        """``(batch, classes)``; ``(T, batch, classes)`` for a spiking family, ``T`` from its timesteps metric."""
        if not self.family(supernet).spiking:
            return (batch, supernet.num_classes)
        metrics = cost_model(supernet.space, supernet.num_classes).metrics()
        assert "timesteps" in metrics, "a spiking family's cost model gives the timesteps metric"
        return (int(metrics["timesteps"](arch)), batch, supernet.num_classes)

    # ------------------------------------------------------------------ identity and choosing a subnet
    def test_is_a_supernet_of_its_space(self, supernet: Supernet, supernet_name: str) -> None:
        assert isinstance(supernet, Supernet)
        assert supernet.space is get_space(supernet_name)
        assert supernet.num_classes == self.num_classes
        assert supernet_name in self.family(supernet).spaces
        active = supernet.active_arch
        assert isinstance(active, Arch) and supernet.space.validate(active.to_dict()) == active

    def test_sample_selects_a_valid_arch_of_the_space(self, supernet: Supernet) -> None:
        space = supernet.space
        arch = supernet.sample(random.Random(3))
        assert isinstance(arch, Arch) and arch.space == space.name
        assert space.validate(arch.to_dict()) == arch
        assert supernet.active_arch == arch
        assert supernet.sample(random.Random(3)) == arch  # seeded
        other = space.smallest() if arch != space.smallest() else space.largest()
        supernet.set_active(other.to_dict())  # a mapping is accepted as well as an Arch
        assert supernet.active_arch == other

    def test_archs_of_another_space_and_invalid_mappings_are_refused(self, supernet: Supernet) -> None:
        space = supernet.space
        before = supernet.sample(random.Random(4))
        other = next((name for name in list_spaces() if name != space.name), None)
        if other is not None:
            with pytest.raises(InvalidArchError):
                supernet.set_active(get_space(other).largest())
        first = space.decisions()[0].label
        for bad in ({**before.to_dict(), first: "not a choice"}, {"no_such_decision": 1}, {}):
            with pytest.raises(InvalidArchError):
                supernet.set_active(bad)
        assert supernet.active_arch == before  # a refused arch leaves the selection alone

    # ------------------------------------------------------------------ computing
    def test_forward_and_backward_of_a_sampled_subnet_are_finite(self, supernet: Supernet) -> None:
        supernet.train()
        arch = supernet.sample(random.Random(5))
        images = self.images(arch)
        scores = supernet(images)
        assert tuple(scores.shape) == self.output_shape(supernet, arch, len(images))
        assert torch.isfinite(scores).all()
        scores.logsumexp(-1).mean().backward()
        grads = [p.grad for p in supernet.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
        assert all(torch.isfinite(g).all() for g in grads)
        assert supernet.extract(arch).training  # the subnet comes in the supernet's mode

    def test_extracted_subnets_compute_what_the_supernet_computes(self, supernet: Supernet) -> None:
        costs = cost_model(supernet.space, supernet.num_classes)
        with torch.no_grad():
            for index, arch in enumerate(self.archs(supernet.space, seed=6)):
                images = self.images(arch, seed=index)
                supernet.set_active(arch)
                expected = supernet(images)
                if index % 2:  # extract(arch) selects arch; extract() takes the active one
                    space = supernet.space
                    supernet.set_active(space.smallest() if arch != space.smallest() else space.largest())
                    subnet = supernet.extract(arch)
                else:
                    subnet = supernet.extract()
                assert supernet.active_arch == arch and not subnet.training
                assert _worst(subnet(images), expected) <= self.tolerance, f"extraction differs for {arch}"
                params = sum(p.numel() for p in subnet.parameters())
                assert params == supernet.params(arch) == costs.params(arch), arch
                for parameter in subnet.parameters():  # the subnet owns copies: the supernet is unchanged
                    parameter.add_(1.0)
                assert torch.equal(supernet(images), expected)

    def test_macs_are_what_the_flop_counter_counts_on_the_extracted_subnet(self, supernet: Supernet) -> None:
        costs = cost_model(supernet.space, supernet.num_classes)
        for arch in self.archs(supernet.space, seed=7):
            side = self.resolution(arch)
            subnet = supernet.extract(arch).eval().to("meta")  # counting needs shapes only
            counted = _flop_macs(subnet, torch.empty(1, self.in_channels, side, side, device="meta"))
            assert supernet.macs(arch) == costs.macs(arch), arch
            assert costs.forward_macs(arch) == counted, arch

    # ------------------------------------------------------------------ channel sorting and the file format
    def test_sort_channels_keeps_the_function_or_is_refused(self, supernet: Supernet) -> None:
        # only the full network keeps its function: sorting decides which channels the narrower subnets keep
        arch = supernet.space.largest()
        images = self.images(arch)
        selected = supernet.sample(random.Random(8))
        with torch.no_grad():
            supernet.set_active(arch)
            expected = supernet(images)
            supernet.set_active(selected)
            try:
                supernet.sort_channels()
            except ConfigError:
                return  # this supernet does not sort channels, and says so with a typed error
            assert supernet.active_arch == selected
            supernet.set_active(arch)
            # float32 reordering changes sums in their last bits: the bound scales with the outputs' magnitude
            bound = self.tolerance * max(1.0, float(expected.abs().max()))
            assert _worst(supernet(images), expected) <= bound, "sorting changed the largest arch"

    def test_save_and_load_give_the_same_network(self, supernet: Supernet, tmp_path: Path) -> None:
        path = supernet.save(tmp_path / "supernet.pt")
        loaded = load_supernet(path)
        assert type(loaded) is type(supernet)
        assert loaded.space is supernet.space and loaded.num_classes == supernet.num_classes
        assert loaded.constructor_options == supernet.constructor_options
        state, restored = supernet.state_dict(), loaded.state_dict()
        assert list(restored) == list(state)
        assert all(torch.equal(restored[key], state[key]) for key in state)

    # ------------------------------------------------------------------ what the family registers
    def test_cost_model_metrics_are_finite_for_the_smallest_and_largest_arch(self, supernet: Supernet) -> None:
        space = supernet.space
        metrics = cost_model(space, supernet.num_classes).metrics()
        assert {"macs", "params"} <= set(metrics)
        defined = metric_definitions()
        for name, metric in metrics.items():
            assert name in defined and defined[name].source == "cheap", f"{name} is not a defined cheap metric"
            for arch in (space.smallest(), space.largest()):
                value = float(metric(arch))
                assert math.isfinite(value) and value >= 0, f"{name}={value} for {arch}"

    def test_latency_parts_cover_random_archs_and_run(self, supernet: Supernet) -> None:
        space = supernet.space
        if self.family(supernet).parts is None:
            with pytest.raises(ConfigError):
                part_model(space, supernet.num_classes)
            return
        parts = part_model(space, supernet.num_classes)
        known = {part.key for part in parts.distinct_parts()}
        rng = random.Random(9)
        with torch.no_grad():
            for _ in range(2):
                sequence = parts.parts(space.sample(rng))
                for index, part in enumerate(sequence):
                    assert part.key in known, f"{part.key} is not among distinct_parts()"
                    module = parts.build(part)
                    assert not module.training
                    out = module(torch.randn(part.input_shape(1)))
                    assert torch.isfinite(out).all()
                    # the parts chain into the network: each one's output is the next one's input
                    following = sequence[index + 1].input_shape(1) if index + 1 < len(sequence) else None
                    assert tuple(out.shape) == (following or (1, supernet.num_classes)), part.key

    def test_static_subnet_rebuilt_from_the_arch_loads_the_extracted_weights(self, supernet: Supernet) -> None:
        space = supernet.space
        arch = space.sample(random.Random(10))
        if self.family(supernet).static_subnet is None:
            with pytest.raises(ConfigError):
                static_subnet(space, arch, supernet.num_classes)
            return
        extracted = supernet.extract(arch)
        rebuilt = static_subnet(space, arch, supernet.num_classes, device="meta")
        rebuilt.load_state_dict(extracted.state_dict(), strict=True, assign=True)
        images = self.images(arch)
        with torch.no_grad():
            assert torch.equal(rebuilt.eval()(images), extracted(images))
