"""Dynamic (elastic) layers: weights sized for the largest choice, sliced or transformed to the active one."""

from __future__ import annotations

from nas.layers.dynamic import (
    DynamicBatchNorm2d,
    DynamicConv2d,
    DynamicDepthwiseConv2d,
    DynamicSqueezeExcite,
)

__all__ = [
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicDepthwiseConv2d",
    "DynamicSqueezeExcite",
]
