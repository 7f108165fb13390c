"""The once-for-all ProxylessNAS space at width 1.3 (``ofa_proxyless_d234_e346_k357_w1.3``) and its small-image
variant.

Faithful to the original: a 3x3 stride-2 stem to 40 channels and a fixed expand-1 MBConv to 24, then six stages of
widths 32, 56, 104, 128, 248, 416 (ProxylessNAS's 24, 40, 80, 96, 192, 320 times 1.3, rounded to multiples of 8) and
strides 2, 2, 2, 1, 2, 1; the first five have elastic depth {2, 3, 4}, the sixth exactly one block. Every stage
block has kernel {3, 5, 7} and expand ratio {3, 4, 6}; a 416 -> 1664 feature-mix layer ends the network (ReLU6
everywhere, no squeeze-excite). Architectures read and write once-for-all's own spec format
``{"wid": null, "ks": [21], "e": [21], "d": [6], "r": [res]}``: once-for-all keeps a sixth depth entry for the
one-block stage and clamps it to one, so any allowed depth (or 1) is accepted there and the largest is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from search_spaces.arch import Arch
from search_spaces.base import Decision, StagedSpace
from search_spaces.errors import InvalidArchError, describe_choices
from search_spaces.ofa_format import check_spec_keys, spec_list, spec_resolution
from search_spaces.ofa_mbv3 import make_divisible
from search_spaces.registry import register_space

__all__ = ["ProxylessSpace", "ProxylessStage"]

_OFA_KEYS = ("ks", "e", "d", "r")


@dataclass(frozen=True)
class ProxylessStage:
    """One stage: output width, stride of its first block, and a fixed depth (None: elastic over the space's
    depths)."""

    width: int
    stride: int
    fixed_depth: int | None = None


_BASE_WIDTHS = (24, 40, 80, 96, 192, 320)
_STRIDES = (2, 2, 2, 1, 2, 1)
_FIXED_DEPTHS = (None, None, None, None, None, 1)


@dataclass(frozen=True, repr=False)
class ProxylessSpace(StagedSpace):
    """An elastic ProxylessNAS space: resolution, then per elastic stage a depth, per block a kernel and expand
    ratio (a fixed-depth stage has only its blocks' choices)."""

    name: str
    resolutions: tuple[int, ...]
    stages: tuple[ProxylessStage, ...]
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    expand_ratios: tuple[int, ...] = (3, 4, 6)
    depths: tuple[int, ...] = (2, 3, 4)
    stem_width: int = 40
    stem_stride: int = 2
    first_block_width: int = 24
    last_channel: int = 1664
    ofa_keys: ClassVar[tuple[str, ...]] = _OFA_KEYS

    def decisions(self) -> tuple[Decision, ...]:
        return _decisions(self)

    def stage_slots(self, stage: int) -> int:
        """Block slots of stage ``stage`` (from 1) in once-for-all's ``ks``/``e`` lists: its largest depth."""
        fixed = self.stages[stage - 1].fixed_depth
        return self.max_depth if fixed is None else fixed

    def stage_depth(self, arch: Arch, stage: int) -> int:
        """The depth of stage ``stage`` (from 1) in ``arch``."""
        fixed = self.stages[stage - 1].fixed_depth
        return int(arch[self.depth_label(stage)]) if fixed is None else fixed

    # ------------------------------------------------------------------ OFA's config format
    def is_ofa_config(self, data: Mapping[str, Any]) -> bool:
        """Any of ``ks``, ``e``, ``d`` marks OFA's format (whose parser then names what else is missing)."""
        return any(key in data for key in _OFA_KEYS[:3])

    def to_ofa_config(self, arch: Arch) -> dict[str, Any] | None:
        """once-for-all's spec; slots past a stage's depth repeat the stage's last active block (once-for-all
        ignores them) and a fixed-depth stage's ``d`` is the largest depth, as once-for-all writes it."""
        ks: list[int] = []
        expand: list[int] = []
        depths: list[int] = []
        for stage in range(1, len(self.stages) + 1):
            depth = self.stage_depth(arch, stage)
            fixed = self.stages[stage - 1].fixed_depth is not None
            depths.append(self.max_depth if fixed else depth)
            for block in range(1, self.stage_slots(stage) + 1):
                source = min(block, depth)
                ks.append(int(arch[self.block_label(stage, source, "kernel")]))
                expand.append(int(arch[self.block_label(stage, source, "expand")]))
        return {"wid": None, "ks": ks, "e": expand, "d": depths, "r": [int(arch["resolution"])]}

    def from_ofa_config(self, config: Any, *, extra_keys: tuple[str, ...] = ()) -> Arch:
        """Validate a once-for-all spec (every slot, active or not, must hold an allowed value); ``r`` may be an
        integer or a one-element list, ``wid`` must be null; a fixed-depth stage's ``d`` may be any allowed depth
        or its own depth (once-for-all clamps it).

        Args:
            config: the decoded JSON object.
            extra_keys: keys to tolerate besides ``ks``, ``e``, ``d``, ``r`` (e.g. ``num_classes`` in a table).
        """
        config = check_spec_keys(config, _OFA_KEYS, extra_keys)
        n_stages = len(self.stages)
        n_slots = sum(self.stage_slots(stage) for stage in range(1, n_stages + 1))
        ks = spec_list(config, "ks", n_slots, self.kernel_sizes)
        expand = spec_list(config, "e", n_slots, self.expand_ratios)
        fixed = {spec.fixed_depth for spec in self.stages if spec.fixed_depth is not None}
        depths = spec_list(config, "d", n_stages, tuple(sorted(set(self.depths) | fixed)))
        values: dict[str, Any] = {"resolution": spec_resolution(config, self.resolutions)}
        first_slot = 0
        for stage in range(1, n_stages + 1):
            spec = self.stages[stage - 1]
            depth = depths[stage - 1]
            if spec.fixed_depth is None:
                if depth not in self.depths:
                    raise InvalidArchError(
                        f"d[{stage - 1}]={depth} not in {describe_choices(self.depths)}",
                        field=f"d[{stage - 1}]",
                        value=depth,
                        allowed=self.depths,
                    )
                values[self.depth_label(stage)] = depth
            else:
                depth = spec.fixed_depth
            for block in range(1, depth + 1):
                values[self.block_label(stage, block, "kernel")] = ks[first_slot + block - 1]
                values[self.block_label(stage, block, "expand")] = expand[first_slot + block - 1]
            first_slot += self.stage_slots(stage)
        return self.validate(values)


_DECISION_CACHE: dict[ProxylessSpace, tuple[Decision, ...]] = {}


def _decisions(space: ProxylessSpace) -> tuple[Decision, ...]:
    cached = _DECISION_CACHE.get(space)
    if cached is not None:
        return cached
    decisions = [Decision("resolution", space.resolutions)]
    min_depth = min(space.depths)
    for stage, spec in enumerate(space.stages, start=1):
        depth_label = space.depth_label(stage)
        if spec.fixed_depth is None:
            decisions.append(Decision(depth_label, space.depths))
        for block in range(1, space.stage_slots(stage) + 1):
            gate = None if spec.fixed_depth is not None or block <= min_depth else (depth_label, block)
            decisions.append(Decision(space.block_label(stage, block, "kernel"), space.kernel_sizes, gate))
            decisions.append(Decision(space.block_label(stage, block, "expand"), space.expand_ratios, gate))
    _DECISION_CACHE[space] = tuple(decisions)
    return _DECISION_CACHE[space]


def _proxyless(
    name: str, width: float, resolutions: tuple[int, ...], strides: tuple[int, ...], stem_stride: int
) -> ProxylessSpace:
    stages = tuple(
        ProxylessStage(make_divisible(base * width), stride, fixed)
        for base, stride, fixed in zip(_BASE_WIDTHS, strides, _FIXED_DEPTHS)
    )
    return ProxylessSpace(
        name=name,
        resolutions=resolutions,
        stages=stages,
        stem_width=make_divisible(32 * width),
        stem_stride=stem_stride,
        first_block_width=make_divisible(16 * width),
        last_channel=make_divisible(1280 * width),
    )


@register_space("ofa_proxyless_w13")
def ofa_proxyless_w13() -> ProxylessSpace:
    """OFA ProxylessNAS width 1.3 for ImageNet-sized inputs (resolution 128..224 in steps of 4): stem 40, first
    block 24, stages 32/56/104/128/248/416, feature mix 1664."""
    return _proxyless("ofa_proxyless_w13", 1.3, tuple(range(128, 225, 4)), _STRIDES, 2)


@register_space("ofa_proxyless_w13_small")
def ofa_proxyless_w13_small() -> ProxylessSpace:
    """The same network for 32x32 inputs (digits, CIFAR-10): stem stride 1, stage strides 2/2/2/1/1/1, resolution
    24..32, so a 32x32 image ends as a 4x4 map, as 224 does as 7x7 in OFA."""
    return _proxyless("ofa_proxyless_w13_small", 1.3, (24, 28, 32), (2, 2, 2, 1, 1, 1), 1)
