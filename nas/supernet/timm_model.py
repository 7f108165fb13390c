"""A static subnet described as a native timm model: what ``nas export --format timm`` writes.

A family that can express its subnets as a timm class registers a ``timm_export`` hook returning a
:class:`TimmModelSpec`: the timm class, JSON constructor options, the state dict under timm's key names and the
few fixes timm's constructors cannot express (a stem stride, per-layer transformer blocks). The export writes it as
``config.json`` + ``model.safetensors``; :func:`build_timm_model` (and the stand-alone loader written beside them)
rebuilds the model from the JSON alone and loads the weights with ``strict=True``.

``model_args`` is JSON; these keys are decoded before the class is called:

- ``block_args``: a timm ``arch_def`` (list of stages, each a list of block strings) -> ``decode_arch_def``;
- ``act_layer``: a timm activation name (``"hard_swish"``, ``"relu6"``) -> ``timm.layers.get_act_layer``;
- ``norm_eps``: a float -> ``norm_layer=partial(BatchNorm2d, eps=...)`` (timm adds the activation itself);
- ``se_layer``: ``{"gate_layer": str, "force_act_layer": str | null, "rd_round_fn": "round_channels" | null,
  ...}`` -> ``partial(SqueezeExcite, ...)`` of timm's efficientnet blocks; other keys pass through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["TIMM_FORMAT", "TIMM_FORMAT_VERSION", "TimmModelSpec"]

TIMM_FORMAT = "nas-timm"
TIMM_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TimmModelSpec:
    """A subnet as a timm model.

    Attributes:
        timm_class: the class in ``timm.models`` (``"MobileNetV3"``, ``"EfficientNet"``, ``"VisionTransformer"``).
        model_args: JSON constructor options (see the module docstring for the decoded keys).
        state_dict: the weights under the timm model's own key names (``strict=True`` loads them).
        stem_stride: set on ``conv_stem`` after building (timm hard-codes 2); None keeps timm's.
        blocks: per-layer transformer blocks ``{"num_heads": int, "mlp_ratio": float}`` replacing
            ``model.blocks[i]`` where layers differ; None keeps timm's uniform blocks.
    """

    timm_class: str
    model_args: Mapping[str, Any]
    state_dict: Mapping[str, Tensor]
    stem_stride: int | None = None
    blocks: tuple[Mapping[str, Any], ...] | None = field(default=None)
