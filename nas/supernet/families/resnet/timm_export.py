"""Once-for-all ResNet subnets as native timm models (``nas export --format timm``).

Every static subnet of the once-for-all ResNet spaces is timm's ``ResNet`` of ``Bottleneck`` blocks with a deep stem
and average-pool shortcuts (``stem_type="deep"``, ``avg_down=True``; once-for-all's shortcut is timm's
``downsample_avg``: 2x2 ceil-mode average pool at stride 2, none at stride 1, then 1x1 convolution and BN), one stage
per once-for-all stage (``layers`` its depths, ``channels`` a quarter of its output width), and the classifier as
``fc`` after timm's global average pool and dropout. What the constructor cannot say travels as the spec's ``stem``
(the widths, the residual middle convolution or its absence, the stride and the max pool) and ``bottlenecks`` (each
stage's first stride and every block's middle width, which once-for-all picks per block by its expand ratio). The
spec is read off the static subnet's own layers, so it describes the network actually exported.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nas.supernet.families.resnet.static import Bottleneck, ResNetSubnet, Stem
from nas.supernet.timm_model import TimmModelSpec, batch_norm_eps, renamed_state
from search_spaces import Arch, ConfigError, ResNetSpace

__all__ = ["resnet_timm_spec"]

_EXPANSION = 4
"""timm's ``Bottleneck.expansion``: a stage's output width is four times its ``channels`` entry."""
_TIMM_STRIDES = (1, 2)
"""The shortcut strides whose once-for-all pool (kernel = stride) equals timm's 2x2 ``downsample_avg`` pool."""

_BLOCK_NAMES = {
    "conv1.conv": "conv1",
    "conv1.bn": "bn1",
    "conv2.conv": "conv2",
    "conv2.bn": "bn2",
    "conv3.conv": "conv3",
    "conv3.bn": "bn3",
    "downsample.conv": "downsample.1",  # timm's downsample_avg: 0 the pool (or identity), 1 the conv, 2 the BN
    "downsample.bn": "downsample.2",
}
"""A bottleneck's modules (once-for-all's ``Bottleneck`` of ``ConvBn``) by their names in timm's ``Bottleneck``."""


def _refuse(why: str) -> ConfigError:
    return ConfigError(f"format 'timm' cannot write this ResNet subnet: {why}", field="format", value="timm")


def _stem(stem: Stem) -> tuple[dict[str, Any], dict[str, str]]:
    """The spec's ``stem`` entry and the renames of the stem's modules to timm's deep-stem names."""
    first, last = stem.conv0.conv, stem.conv2.conv
    residual = hasattr(stem, "residual")
    modules = {
        "stem.conv0.conv": "conv1.0",
        "stem.conv0.bn": "conv1.1",
        "stem.conv2.conv": "conv1.6",
        "stem.conv2.bn": "bn1",
    }
    if residual:
        modules.update({"stem.residual.conv": "conv1.3", "stem.residual.bn": "conv1.4"})
    entry = {
        "widths": [first.out_channels, last.out_channels],
        "residual": residual,
        "stride": int(first.stride[0]),
        "max_pool": hasattr(stem, "pool"),
    }
    return entry, modules


def _block_names(ours: str, theirs: str) -> dict[str, str]:
    """Renames of one bottleneck's modules (``blocks.{i}`` -> ``layer{s}.{j}``)."""
    return {f"{ours}.{a}": f"{theirs}.{b}" for a, b in _BLOCK_NAMES.items()}


def _stage(blocks: list[Bottleneck]) -> dict[str, Any]:
    """One stage's ``bottlenecks`` entry, after checking its shortcuts are where timm's ResNet puts them."""
    stride = int(blocks[0].conv2.conv.stride[0])
    if stride not in _TIMM_STRIDES:
        raise _refuse(f"a stride-{stride} shortcut pool differs from timm's 2x2 average pool")
    if any(block.conv2.conv.stride[0] != 1 for block in blocks[1:]):
        raise _refuse("a stride past a stage's first block (timm's ResNet strides only there)")
    for block in blocks:
        changes = block.conv2.conv.stride[0] != 1 or block.conv1.conv.in_channels != block.conv3.conv.out_channels
        if (block.downsample is not None) != changes:
            raise _refuse("a shortcut convolution where the shape does not change (timm's ResNet has none there)")
    return {"stride": stride, "widths": [block.conv1.conv.out_channels for block in blocks]}


def resnet_timm_spec(space: ResNetSpace, arch: Arch, subnet: nn.Module) -> TimmModelSpec:
    """``subnet`` (a :class:`ResNetSubnet` of ``arch``) as timm's ``ResNet``.

    Raises:
        ConfigError: a subnet timm's ResNet cannot hold (none of the registered spaces has one).
    """
    if not isinstance(subnet, ResNetSubnet):
        raise TypeError(f"expected a ResNetSubnet, got {type(subnet).__name__}")
    stem, modules = _stem(subnet.stem)
    mid = stem["widths"][0]
    depths = [int(arch[space.depth_label(stage)]) for stage in range(1, len(space.stages) + 1)]
    blocks: list[Bottleneck] = list(subnet.blocks)  # type: ignore[arg-type]
    if sum(depths) != len(blocks):
        raise ValueError(f"stages of {depths} blocks do not hold the subnet's {len(blocks)} blocks")
    stages, channels, start = [], [], 0
    for index, depth in enumerate(depths):
        out = blocks[start].conv3.conv.out_channels
        if out % _EXPANSION:
            raise _refuse(f"stage {index + 1}'s width {out} is not a multiple of timm's bottleneck expansion 4")
        stages.append(_stage(blocks[start : start + depth]))
        channels.append(out // _EXPANSION)
        for position in range(depth):
            modules |= _block_names(f"blocks.{start + position}", f"layer{index + 1}.{position}")
        start += depth
    modules["classifier"] = "fc"
    args: dict[str, Any] = {
        "block": "Bottleneck",
        "layers": depths,
        "channels": channels,
        "num_classes": subnet.classifier.out_features,
        "stem_type": "deep",
        "stem_width": mid,
        "avg_down": True,
        "norm_eps": batch_norm_eps(subnet),
        "drop_rate": subnet.dropout.p,
    }
    state = renamed_state(subnet.state_dict(), modules)
    return TimmModelSpec("ResNet", args, state, stem=stem, bottlenecks=tuple(stages))
