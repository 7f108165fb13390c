"""The once-for-all ResNet-50 space (``ofa_resnet50``) and its small-image variant (``ofa_resnet50_small``).

Faithful to once-for-all's ``OFAResNets`` as published: a three-convolution input stem whose middle (residual)
convolution can be skipped, a max pool, then four stages of bottleneck blocks of base depths 2, 2, 4, 2 plus 0..2
extra blocks each; widths are elastic by multiplier (0.65, 0.8, 1.0) for the stem's two widths and per stage, and
every block has its own expand ratio (0.2, 0.25, 0.35) setting its middle width.

Labels: ``resolution``; ``stem_depth`` (3: the input stem runs its residual convolution, 2: it skips it);
``stem_mid_width`` (width multiplier of the stem's first two convolutions) and ``stem_width`` (of its last); per
stage ``s1_depth`` (the number of blocks it runs, e.g. 4..6 in stage 3), ``s1_width`` (multiplier) and per block
``s1_b1_expand``.

once-for-all's spec ``{"d": [5], "e": [18], "w": [6], "r": [res]}`` holds ``d[0]`` for the stem (once-for-all runs
the residual convolution only when ``d[0] == 2``, so 0 and 1 both read as ``stem_depth=2``, which is written back
as 0), ``d[1..4]`` the extra blocks per stage, ``w`` width indices (stem, stem, four stages) and ``e`` one ratio
per block slot (slots past a stage's depth are ignored; they are written as the stage's last active block's ratio).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from search_spaces.arch import Arch
from search_spaces.base import Decision, SearchSpace
from search_spaces.ofa_format import check_spec_keys, spec_list, spec_resolution
from search_spaces.ofa_mbv3 import make_divisible
from search_spaces.registry import register_space

__all__ = ["ResNetSpace", "ResNetStage"]

_OFA_KEYS = ("d", "e", "w", "r")
_OFA_DEPTHS = (0, 1, 2)
"""once-for-all's ``depth_list``: the values of every ``d`` entry (for ``d[0]`` the stem's residual convolution
runs only at the maximum, 2)."""


@dataclass(frozen=True)
class ResNetStage:
    """One stage of bottlenecks: base output width (at multiplier 1), stride of its first block, base depth."""

    width: int
    stride: int
    base_depth: int


_OFA_STAGES = (
    ResNetStage(256, 1, 2),
    ResNetStage(512, 2, 2),
    ResNetStage(1024, 2, 4),
    ResNetStage(2048, 2, 2),
)


@dataclass(frozen=True, repr=False)
class ResNetSpace(SearchSpace):
    """An elastic ResNet space of bottleneck blocks (once-for-all's ``OFAResNets``)."""

    name: str
    resolutions: tuple[int, ...]
    stages: tuple[ResNetStage, ...] = _OFA_STAGES
    width_mults: tuple[float, ...] = (0.65, 0.8, 1.0)
    expand_ratios: tuple[float, ...] = (0.2, 0.25, 0.35)
    stem_base_width: int = 64
    stem_stride: int = 2
    max_pool: bool = True
    ofa_keys: ClassVar[tuple[str, ...]] = _OFA_KEYS
    extra_depths: ClassVar[tuple[int, ...]] = _OFA_DEPTHS
    """Blocks a stage may add to its base depth (once-for-all's ``depth_list``)."""

    # ------------------------------------------------------------------ structure
    @staticmethod
    def depth_label(stage: int) -> str:
        """Label of a stage's depth (its number of blocks); stages count from 1."""
        return f"s{stage}_depth"

    @staticmethod
    def width_label(stage: int) -> str:
        """Label of a stage's width multiplier; stages count from 1."""
        return f"s{stage}_width"

    @staticmethod
    def block_label(stage: int, block: int, what: str) -> str:
        """Label of a block's choice ``what`` (``expand``); stages and blocks count from 1."""
        return f"s{stage}_b{block}_{what}"

    def stage_depths(self, stage: int) -> tuple[int, ...]:
        """The block counts stage ``stage`` (from 1) can run."""
        base = self.stages[stage - 1].base_depth
        return tuple(base + extra for extra in self.extra_depths)

    def max_blocks(self, stage: int) -> int:
        return self.stage_depths(stage)[-1]

    def stem_widths(self, mult: float) -> tuple[int, int]:
        """``(mid, out)`` channels of the stem's convolutions at a width multiplier (once-for-all's rounding)."""
        out = make_divisible(self.stem_base_width * mult)
        return make_divisible(out // 2), out

    def stage_width(self, stage: int, mult: float) -> int:
        """Output channels of stage ``stage`` (from 1) at a width multiplier."""
        return make_divisible(self.stages[stage - 1].width * mult)

    @staticmethod
    def middle_width(out_channels: int, expand: float) -> int:
        """A bottleneck's middle channels (once-for-all's rounding of ``out * expand``)."""
        return make_divisible(round(out_channels * expand))

    def decisions(self) -> tuple[Decision, ...]:
        return _decisions(self)

    # ------------------------------------------------------------------ OFA's config format
    def is_ofa_config(self, data: Mapping[str, Any]) -> bool:
        """Any of ``d``, ``e``, ``w`` marks OFA's format (whose parser then names what else is missing)."""
        return any(key in data for key in _OFA_KEYS[:3])

    def to_ofa_config(self, arch: Arch) -> dict[str, Any] | None:
        """once-for-all's spec ``{"d", "e", "w", "r": [res]}``; ``stem_depth=2`` is written as ``d[0] = 0`` and
        slots past a stage's depth repeat the stage's last active block's ratio (once-for-all ignores them)."""
        depths = [2 if int(arch["stem_depth"]) == 3 else 0]
        widths = [self.width_mults.index(arch["stem_mid_width"]), self.width_mults.index(arch["stem_width"])]
        expand: list[float] = []
        for stage in range(1, len(self.stages) + 1):
            depth = int(arch[self.depth_label(stage)])
            depths.append(depth - self.stages[stage - 1].base_depth)
            widths.append(self.width_mults.index(arch[self.width_label(stage)]))
            for block in range(1, self.max_blocks(stage) + 1):
                expand.append(float(arch[self.block_label(stage, min(block, depth), "expand")]))
        return {"d": depths, "e": expand, "w": widths, "r": [int(arch["resolution"])]}

    def from_ofa_config(self, config: Any, *, extra_keys: tuple[str, ...] = ()) -> Arch:
        """Validate a once-for-all spec (every slot, active or not, must hold an allowed value); ``r`` may be an
        integer or a one-element list.

        Args:
            config: the decoded JSON object.
            extra_keys: keys to tolerate besides ``d``, ``e``, ``w``, ``r`` (e.g. ``num_classes`` in a table).
        """
        config = check_spec_keys(config, _OFA_KEYS, extra_keys)
        n_stages = len(self.stages)
        n_slots = sum(self.max_blocks(stage) for stage in range(1, n_stages + 1))
        resolution = spec_resolution(config, self.resolutions)
        depths = spec_list(config, "d", n_stages + 1, _OFA_DEPTHS)
        widths = spec_list(config, "w", n_stages + 2, tuple(range(len(self.width_mults))))
        expand = spec_list(config, "e", n_slots, self.expand_ratios)
        values: dict[str, Any] = {
            "resolution": resolution,
            "stem_depth": 3 if depths[0] == 2 else 2,
            "stem_mid_width": self.width_mults[widths[0]],
            "stem_width": self.width_mults[widths[1]],
        }
        slot = 0
        for stage in range(1, n_stages + 1):
            depth = self.stages[stage - 1].base_depth + depths[stage]
            values[self.depth_label(stage)] = depth
            values[self.width_label(stage)] = self.width_mults[widths[stage + 1]]
            for block in range(1, depth + 1):
                values[self.block_label(stage, block, "expand")] = expand[slot + block - 1]
            slot += self.max_blocks(stage)
        return self.validate(values)


_DECISION_CACHE: dict[ResNetSpace, tuple[Decision, ...]] = {}


def _decisions(space: ResNetSpace) -> tuple[Decision, ...]:
    cached = _DECISION_CACHE.get(space)
    if cached is not None:
        return cached
    decisions = [
        Decision("resolution", space.resolutions),
        Decision("stem_depth", (2, 3)),
        Decision("stem_mid_width", space.width_mults),
        Decision("stem_width", space.width_mults),
    ]
    for stage in range(1, len(space.stages) + 1):
        depths = space.stage_depths(stage)
        depth_label = space.depth_label(stage)
        decisions.append(Decision(depth_label, depths))
        decisions.append(Decision(space.width_label(stage), space.width_mults))
        for block in range(1, depths[-1] + 1):
            gate = None if block <= depths[0] else (depth_label, block)
            decisions.append(Decision(space.block_label(stage, block, "expand"), space.expand_ratios, gate))
    _DECISION_CACHE[space] = tuple(decisions)
    return _DECISION_CACHE[space]


@register_space("ofa_resnet50")
def ofa_resnet50() -> ResNetSpace:
    """once-for-all's elastic ResNet-50 for ImageNet-sized inputs: resolution 128..224 in steps of 4."""
    return ResNetSpace(name="ofa_resnet50", resolutions=tuple(range(128, 225, 4)))


@register_space("ofa_resnet50_small")
def ofa_resnet50_small() -> ResNetSpace:
    """The same blocks for 32x32 inputs (digits, CIFAR-10): stem stride 2, no max pool, stage strides 1/2/2/1,
    resolution 24..32.

    Total downsampling is 8 instead of 32, so a 32x32 image ends as a 4x4 map, as 224 does as 7x7 in OFA.
    """
    stages = tuple(
        ResNetStage(stage.width, stride, stage.base_depth) for stage, stride in zip(_OFA_STAGES, (1, 2, 2, 1))
    )
    return ResNetSpace(name="ofa_resnet50_small", resolutions=(24, 28, 32), stages=stages, max_pool=False)
