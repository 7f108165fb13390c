"""once-for-all's published ResNet-50 supernet (``ofa_resnet50``) and how its checkpoint spells our keys.

once-for-all's ``OFAResNets`` keeps the stem as ``input_stem.0..2`` (the middle one a residual block, hence an
extra ``.conv``), every bottleneck in one flat ``blocks`` list, and the classifier as ``classifier.linear.linear``;
inside a block the names (``conv1.conv.conv.weight``, ``downsample.bn.bn.running_mean``, ...) are already ours.
"""

from __future__ import annotations

import re

from nas.supernet.published import PublishedNet

__all__ = ["PUBLISHED", "resnet_checkpoint_key"]

_STAGE_BLOCKS = (4, 4, 6, 4)
"""Blocks per stage of the published net (base depths 2, 2, 4, 2 plus two elastic ones each)."""

_STEM = {"stem.0.": "input_stem.0.", "stem.1.": "input_stem.1.conv.", "stem.2.": "input_stem.2."}


def resnet_checkpoint_key(key: str, stage_blocks: tuple[int, ...] = _STAGE_BLOCKS) -> str:
    """A key of :class:`~.elastic.ElasticResNet`'s state dict -> the key in once-for-all's published file."""
    stage_block = re.fullmatch(r"stages\.(\d+)\.(\d+)\.(.+)", key)
    if stage_block:
        index = sum(stage_blocks[: int(stage_block[1])]) + int(stage_block[2])
        return f"blocks.{index}.{stage_block[3]}"
    if key.startswith("classifier."):
        return "classifier.linear.linear." + key.removeprefix("classifier.")
    for ours, theirs in _STEM.items():
        if key.startswith(ours):
            return theirs + key.removeprefix(ours)
    return key


PUBLISHED = (PublishedNet("ofa_resnet50", "ofa_resnet50", resnet_checkpoint_key, options={"dropout": 0.0}),)
