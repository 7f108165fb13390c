"""once-for-all's published ProxylessNAS supernet (width 1.3): how each of our keys is spelt in its file.

The layout is the MobileNetV3 nets': one list of blocks (``blocks.0`` the first block, ``blocks.1..21`` the stage
slots in order: four per elastic stage, one for the last stage), dynamic layers one level deeper
(``inverted_bottleneck.conv.conv.weight``), ``first_conv``, ``feature_mix_layer`` (here with its batch norm) and
``classifier.linear``; the kernel transforms ``7to5_matrix``/``5to3_matrix`` are our ``transform_7to5``/``_5to3``.
"""

from __future__ import annotations

import re

from nas.supernet.families.mobilenetv3.published import elastic_mbconv_key
from nas.supernet.published import PublishedNet

__all__ = ["PUBLISHED", "proxyless_checkpoint_key"]

_BLOCKS_PER_ELASTIC_STAGE = 4
_HEAD = {"stem.": "first_conv.", "feature_mix.": "feature_mix_layer.", "classifier.": "classifier.linear."}
_FIRST_BLOCK = {
    "first_block.depthwise.": "blocks.0.conv.depth_conv.",
    "first_block.project.": "blocks.0.conv.point_linear.",
}


def proxyless_checkpoint_key(key: str) -> str:
    """A key of :class:`~.elastic.ElasticProxylessNAS`'s state dict -> the key in once-for-all's published file.

    Stage ``s`` (from 0) block ``b`` is once-for-all's block ``1 + 4 s + b``: every stage before the last, one-block
    stage has four slots.
    """
    stage_block = re.fullmatch(r"stages\.(\d+)\.(\d+)\.(.+)", key)
    if stage_block:
        index = 1 + int(stage_block[1]) * _BLOCKS_PER_ELASTIC_STAGE + int(stage_block[2])
        return f"blocks.{index}.conv.{elastic_mbconv_key(stage_block[3])}"
    for prefixes in (_FIRST_BLOCK, _HEAD):
        for ours, theirs in prefixes.items():
            if key.startswith(ours):
                return theirs + key.removeprefix(ours)
    raise KeyError(f"no once-for-all key for {key!r}")


PUBLISHED = (PublishedNet("ofa_proxyless_d234_e346_k357_w1.3", "ofa_proxyless_w13", proxyless_checkpoint_key),)
