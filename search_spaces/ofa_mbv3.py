"""The once-for-all MobileNetV3 spaces (width 1.0 and 1.2) and the small-image variant of width 1.0.

Faithful to the original: kernel {3, 5, 7} and expand ratio {3, 4, 6} per block, depth {2, 3, 4} per stage over
five elastic stages of widths 24, 40, 80, 112, 160 (squeeze-excite in the 40/112/160 stages, ReLU in the first two,
h-swish after), a fixed 16-channel stem and first MBConv, and a 960 -> 1280 -> classes head. Architectures read and
write OFA's own config format ``{"ks": [20], "e": [20], "d": [5], "r": int}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from search_spaces.arch import Arch
from search_spaces.base import Decision, StagedSpace
from search_spaces.ofa_format import check_spec_keys, spec_list, spec_resolution
from search_spaces.registry import register_space

__all__ = ["MobileNetV3Space", "StageSpec", "make_divisible"]

_OFA_KEYS = ("ks", "e", "d", "r")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10% (MobileNet's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class StageSpec:
    """One elastic stage: output width, stride of its first block, activation and squeeze-excite."""

    width: int
    stride: int
    activation: str  # "relu" or "hswish"
    squeeze_excite: bool


_OFA_STAGES = (
    StageSpec(24, 2, "relu", False),
    StageSpec(40, 2, "relu", True),
    StageSpec(80, 2, "hswish", False),
    StageSpec(112, 1, "hswish", True),
    StageSpec(160, 2, "hswish", True),
)


@dataclass(frozen=True, repr=False)
class MobileNetV3Space(StagedSpace):
    """An elastic MobileNetV3 space: resolution, then per stage a depth and per block a kernel and expand ratio."""

    name: str
    resolutions: tuple[int, ...]
    stages: tuple[StageSpec, ...] = _OFA_STAGES
    kernel_sizes: tuple[int, ...] = (3, 5, 7)
    expand_ratios: tuple[int, ...] = (3, 4, 6)
    depths: tuple[int, ...] = (2, 3, 4)
    stem_width: int = 16
    stem_stride: int = 2
    first_block_width: int = 16
    final_expand_width: int = 960
    last_channel: int = 1280
    ofa_keys: ClassVar[tuple[str, ...]] = _OFA_KEYS

    def decisions(self) -> tuple[Decision, ...]:
        return _decisions(self)

    # ------------------------------------------------------------------ OFA's config format
    def is_ofa_config(self, data: Mapping[str, Any]) -> bool:
        """Any of ``ks``, ``e``, ``d`` marks OFA's format (whose parser then names what else is missing)."""
        return any(key in data for key in _OFA_KEYS[:3])

    def to_ofa_config(self, arch: Arch) -> dict[str, Any] | None:
        """once-for-all's spec (``{"wid": None, "ks", "e", "d", "r": [res]}``); slots past a stage's depth repeat
        the stage's last active block, as once-for-all ignores them."""
        ks: list[int] = []
        expand: list[int] = []
        depths: list[int] = []
        for stage in range(1, len(self.stages) + 1):
            depth = int(arch[self.depth_label(stage)])
            depths.append(depth)
            for block in range(1, self.max_depth + 1):
                source = min(block, depth)
                ks.append(int(arch[self.block_label(stage, source, "kernel")]))
                expand.append(int(arch[self.block_label(stage, source, "expand")]))
        return {"wid": None, "ks": ks, "e": expand, "d": depths, "r": [int(arch["resolution"])]}

    def from_ofa_config(self, config: Any, *, extra_keys: tuple[str, ...] = ()) -> Arch:
        """Validate a once-for-all spec (every slot, active or not, must hold an allowed value); ``r`` may be an
        integer or a one-element list, ``wid`` must be null.

        Args:
            config: the decoded JSON object.
            extra_keys: keys to tolerate besides ``ks``, ``e``, ``d``, ``r`` (e.g. ``num_classes`` in a table).
        """
        config = check_spec_keys(config, _OFA_KEYS, extra_keys)
        n_stages, n_slots = len(self.stages), len(self.stages) * self.max_depth
        ks = spec_list(config, "ks", n_slots, self.kernel_sizes)
        expand = spec_list(config, "e", n_slots, self.expand_ratios)
        depths = spec_list(config, "d", n_stages, self.depths)
        values: dict[str, Any] = {"resolution": spec_resolution(config, self.resolutions)}
        for stage in range(1, n_stages + 1):
            values[self.depth_label(stage)] = depths[stage - 1]
            for block in range(1, depths[stage - 1] + 1):
                slot = (stage - 1) * self.max_depth + block - 1
                values[self.block_label(stage, block, "kernel")] = ks[slot]
                values[self.block_label(stage, block, "expand")] = expand[slot]
        return self.validate(values)


_DECISION_CACHE: dict[MobileNetV3Space, tuple[Decision, ...]] = {}


def _decisions(space: MobileNetV3Space) -> tuple[Decision, ...]:
    cached = _DECISION_CACHE.get(space)
    if cached is not None:
        return cached
    blocks = (("kernel", space.kernel_sizes), ("expand", space.expand_ratios))
    decisions = [Decision("resolution", space.resolutions), *space.stage_decisions(len(space.stages), blocks)]
    _DECISION_CACHE[space] = tuple(decisions)
    return _DECISION_CACHE[space]


@register_space("ofa_mbv3")
def ofa_mbv3() -> MobileNetV3Space:
    """OFA MobileNetV3 width 1.0 for ImageNet-sized inputs: resolution 128..224 in steps of 4."""
    return MobileNetV3Space(name="ofa_mbv3", resolutions=tuple(range(128, 225, 4)))


@register_space("ofa_mbv3_w12")
def ofa_mbv3_w12() -> MobileNetV3Space:
    """OFA MobileNetV3 width 1.2 (once-for-all's ``ofa_mbv3_d234_e346_k357_w1.2``): every width of width 1.0 times
    1.2, rounded to a multiple of 8 (stem and first block 24, stages 32/48/96/136/192, head 1152 -> 1536)."""
    return _scaled("ofa_mbv3_w12", 1.2)


def _scaled(name: str, width: float) -> MobileNetV3Space:
    stages = tuple(
        StageSpec(make_divisible(spec.width * width), spec.stride, spec.activation, spec.squeeze_excite)
        for spec in _OFA_STAGES
    )
    return MobileNetV3Space(
        name=name,
        resolutions=tuple(range(128, 225, 4)),
        stages=stages,
        stem_width=make_divisible(16 * width),
        first_block_width=make_divisible(16 * width),
        final_expand_width=make_divisible(960 * width),
        last_channel=make_divisible(1280 * width),
    )


@register_space("ofa_mbv3_small")
def ofa_mbv3_small() -> MobileNetV3Space:
    """The same blocks for 32x32 inputs (digits, CIFAR-10): stem stride 1, stages 2/2/2/1/1, resolution 24..32.

    Total downsampling is 8 instead of 32, so a 32x32 image ends as a 4x4 map, as 224 does as 7x7 in OFA.
    """
    stages = tuple(
        StageSpec(spec.width, stride, spec.activation, spec.squeeze_excite)
        for spec, stride in zip(_OFA_STAGES, (2, 2, 2, 1, 1))
    )
    return MobileNetV3Space(name="ofa_mbv3_small", resolutions=(24, 28, 32), stages=stages, stem_stride=1)
