"""once-for-all's published MobileNetV3 supernets (width 1.0 and 1.2): how each of our keys is spelt in their files.

once-for-all numbers every block in one list (``blocks.0`` is the first block, ``blocks.1..20`` the elastic
stages' slots in order) and wraps its dynamic layers one level deeper (``inverted_bottleneck.conv.conv.weight``);
the tensors themselves are laid out as ours, kernel transforms included (``7to5_matrix`` is ``transform_7to5``).
"""

from __future__ import annotations

import re

from nas.supernet.published import PublishedNet

__all__ = ["PUBLISHED", "elastic_mbconv_key", "mobilenetv3_checkpoint_key"]

_ELASTIC_PARTS = {
    "expand_conv.conv.": "inverted_bottleneck.conv.conv.",
    "expand_bn.bn.": "inverted_bottleneck.bn.bn.",
    "depthwise_conv.conv.": "depth_conv.conv.conv.",
    "depthwise_bn.bn.": "depth_conv.bn.bn.",
    "se.": "depth_conv.se.fc.",
    "project_conv.conv.": "point_linear.conv.conv.",
    "project_bn.bn.": "point_linear.bn.bn.",
}
_TRANSFORM = re.compile(r"depthwise_conv\.transform_(\d+)to(\d+)")
_FIRST_BLOCK_PARTS = {"depthwise.": "depth_conv.", "project.": "point_linear."}
_HEAD = {"stem.": "first_conv.", "final_expand.": "final_expand_layer.", "feature_mix.": "feature_mix_layer."}


def elastic_mbconv_key(key: str) -> str:
    """An :class:`~.elastic.ElasticMBConv`'s key -> once-for-all's ``DynamicMBConvLayer`` key (below ``conv.``)."""
    transform = _TRANSFORM.fullmatch(key)
    if transform:
        return f"depth_conv.conv.{transform[1]}to{transform[2]}_matrix"
    return _renamed(key, _ELASTIC_PARTS)


def mobilenetv3_checkpoint_key(key: str, blocks_per_stage: int = 4) -> str:
    """A key of :class:`~.elastic.ElasticMobileNetV3`'s state dict -> the key in once-for-all's published file."""
    stage_block = re.fullmatch(r"stages\.(\d+)\.(\d+)\.(.+)", key)
    if stage_block:
        index = 1 + int(stage_block[1]) * blocks_per_stage + int(stage_block[2])
        return f"blocks.{index}.conv.{elastic_mbconv_key(stage_block[3])}"
    if key.startswith("first_block."):
        return "blocks.0.conv." + _renamed(key.removeprefix("first_block."), _FIRST_BLOCK_PARTS)
    if key.startswith("classifier."):
        return "classifier.linear." + key.removeprefix("classifier.")
    return _renamed(key, _HEAD)


def _renamed(key: str, prefixes: dict[str, str]) -> str:
    for ours, theirs in prefixes.items():
        if key.startswith(ours):
            return theirs + key.removeprefix(ours)
    return key


PUBLISHED = (
    PublishedNet("ofa_mbv3_d234_e346_k357_w1.0", "ofa_mbv3", mobilenetv3_checkpoint_key),
    PublishedNet("ofa_mbv3_d234_e346_k357_w1.2", "ofa_mbv3_w12", mobilenetv3_checkpoint_key),
)
