"""Spaces over timm's ``arch_def`` networks (MobileNetV3, EfficientNet, MnasNet, FBNetV3, MobileNetV4).

The space is given a plain description of the network's stages and blocks (block type, original kernel and
expand ratio, the allowed ones, the allowed depths); it holds no timm object. The description is produced by the
family that parses timm's ``arch_def`` (``nas.supernet.families.timm_blocks``) and may be supplied lazily (a
zero-argument callable), so that registering a space does not import timm.

Labels follow the one vocabulary and timm's stage indices: ``s3_depth`` is the number of blocks kept of
``blocks.3``, ``s3_b2_kernel`` / ``s3_b2_expand`` the kernel and expand ratio of ``blocks.3.1``. Stages without a
choice (the first stage and the 1x1 head conv) have no decisions; a block without a kernel or expand choice has no
decision for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from search_spaces.arch import Arch, Choice
from search_spaces.base import Decision, StagedSpace
from search_spaces.errors import ConfigError

__all__ = ["TimmBlockChoices", "TimmBlocksSpace", "TimmStageChoices"]

BLOCK_KINDS = ("ds", "dsa", "ir", "er", "cn", "uir")
"""timm's block types the spaces describe: depthwise-separable (``dsa``: with a pointwise activation), inverted
residual, edge residual (fused), conv-bn-act and universal inverted residual."""


@dataclass(frozen=True)
class TimmBlockChoices:
    """One block of a stage: its type, channels, stride, original kernel and expand ratio and the allowed ones.

    ``kernels`` / ``expands`` with a single value mean the block has no such decision.
    """

    kind: str
    in_channels: int
    out_channels: int
    stride: int
    kernel: int
    expand: float
    kernels: tuple[int, ...]
    expands: tuple[Choice, ...]

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ConfigError(f"block type {self.kind!r} not in {BLOCK_KINDS}", field="kind", value=self.kind)
        if self.kernel not in self.kernels or self.expand not in self.expands:
            raise ConfigError(
                f"the original kernel {self.kernel} / expand {self.expand} must be among the choices "
                f"{self.kernels} / {self.expands}",
                field="choices",
                value=(self.kernels, self.expands),
            )


@dataclass(frozen=True)
class TimmStageChoices:
    """One stage (timm's ``blocks.{index}``): its blocks in order and the allowed depths (first blocks kept)."""

    index: int
    blocks: tuple[TimmBlockChoices, ...]
    depths: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.depths or min(self.depths) < 1 or max(self.depths) != len(self.blocks):
            raise ConfigError(
                f"stage {self.index}: depths {self.depths} must lie in 1..{len(self.blocks)} and include "
                f"{len(self.blocks)}",
                field="depths",
                value=self.depths,
            )

    @property
    def elastic(self) -> bool:
        """Whether the stage has any decision."""
        return len(self.depths) > 1 or any(len(b.kernels) > 1 or len(b.expands) > 1 for b in self.blocks)


@dataclass(frozen=True, repr=False)
class TimmBlocksSpace(StagedSpace):
    """An elastic space over one timm ``arch_def`` network: resolution, per stage a depth, per block a kernel and
    an expand ratio.

    Attributes:
        name: the space's name.
        model: the timm model it derives from (``mobilenetv3_large_100``).
        resolutions: input sizes.
        describe: returns the stages (all of them, fixed ones included), called once on first use.
        stem_stride: stride of the stem convolution (1 for small images).
    """

    name: str
    model: str
    resolutions: tuple[int, ...]
    describe: Callable[[], tuple[TimmStageChoices, ...]]
    stem_stride: int = 2

    @cached_property
    def stages(self) -> tuple[TimmStageChoices, ...]:
        """Every stage of the network, fixed and elastic."""
        return tuple(self.describe())

    @property
    def depths(self) -> tuple[int, ...]:  # type: ignore[override]
        return tuple(sorted({d for stage in self.stages for d in stage.depths}))

    @cached_property
    def _decisions(self) -> tuple[Decision, ...]:
        decisions = [Decision("resolution", self.resolutions)]
        for stage in self.stages:
            if not stage.elastic:
                continue
            depth_label = self.depth_label(stage.index)
            if len(stage.depths) > 1:
                decisions.append(Decision(depth_label, stage.depths))
            for position, block in enumerate(stage.blocks, start=1):
                gate = None if position <= min(stage.depths) else (depth_label, position)
                for what, choices in (("kernel", block.kernels), ("expand", block.expands)):
                    if len(choices) > 1:
                        decisions.append(Decision(self.block_label(stage.index, position, what), choices, gate))
        return tuple(decisions)

    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    # ------------------------------------------------------------------ reading an arch
    def depth(self, arch: Arch, stage: TimmStageChoices) -> int:
        """Blocks of ``stage`` that ``arch`` keeps."""
        return int(arch.get(self.depth_label(stage.index), len(stage.blocks)))

    def block_choice(self, arch: Arch, stage: TimmStageChoices, position: int) -> tuple[int, Choice]:
        """``(kernel, expand)`` of block ``position`` (from 1) of ``stage`` in ``arch`` (originals where fixed)."""
        block = stage.blocks[position - 1]
        kernel = int(arch.get(self.block_label(stage.index, position, "kernel"), block.kernel))
        expand = arch.get(self.block_label(stage.index, position, "expand"), block.expand)
        return kernel, expand

    def original(self, resolution: int | None = None) -> Arch:
        """The arch of the timm model itself (its kernels, expand ratios and depths) at ``resolution`` (default:
        the largest)."""
        values: dict[str, Choice] = {"resolution": max(self.resolutions) if resolution is None else resolution}
        for stage in self.stages:
            values[self.depth_label(stage.index)] = len(stage.blocks)
            for position, block in enumerate(stage.blocks, start=1):
                values[self.block_label(stage.index, position, "kernel")] = block.kernel
                values[self.block_label(stage.index, position, "expand")] = block.expand
        labels = set(self.labels())
        return self.validate({label: value for label, value in values.items() if label in labels})
