"""A static subnet described as a native timm model: what ``nas export --format timm`` writes.

A family that can express its subnets as a timm class registers a ``timm_export`` hook returning a
:class:`TimmModelSpec`: the timm class, JSON constructor options, the state dict under timm's key names and the
few fixes timm's constructors cannot express (a stem stride, per-layer transformer blocks, a ResNet's stem and
per-bottleneck widths). The export writes it as
``config.json`` + ``model.safetensors``; :func:`nas.export.timm_loader.build_timm_model` (the stand-alone loader,
copied beside them as ``load_timm.py``) rebuilds the model from the JSON alone and loads the weights with
``strict=True``.

``model_args`` is JSON: the keyword arguments of the timm class (``num_classes`` among them), where these keys
are decoded before the class is called:

- ``block_args``: a timm ``arch_def`` (list of stages, each a list of block strings) -> ``decode_arch_def``;
- ``act_layer``: a timm activation name (``"hard_swish"``, ``"relu6"``, ``"gelu"``) -> ``timm.layers.get_act_layer``;
- ``norm_eps``: a float -> ``norm_layer=partial(BatchNorm2d, eps=...)`` (timm adds the activation itself), or for
  ``VisionTransformer`` ``partial(timm.layers.LayerNorm, eps=...)``;
- ``se_layer``: ``{"gate_layer": str, "force_act_layer": str | null, "rd_round_fn": "round_channels" | null,
  "rd_round_limit": float (optional), ...}`` -> ``partial(SqueezeExcite, ...)`` of timm's efficientnet blocks
  (the two layers through ``get_act_layer``; ``rd_round_limit`` binds ``round_channels``' ``round_limit``); other
  keys pass through.

Every other key passes through unchanged. ``blocks`` (``VisionTransformer`` only) holds one entry per layer of
``model.blocks`` (or only the layers that differ, each naming its position as ``"index"``): null keeps timm's
block, ``{"num_heads": int, "mlp_ratio": float, "attn_head_dim": int (optional)}`` replaces it with a
``timm.models.vision_transformer.Block`` of the model's width and of the ``qkv_bias``, ``qk_norm``, ``proj_bias``,
``init_values``, ``norm_layer`` (``norm_eps``) and ``act_layer`` options in ``model_args`` (timm's
``VisionTransformer`` defaults where absent), whose ``attn`` is timm's ``Attention(..., attn_head_dim=...)``
where a head width is given. ``stem_stride`` is set on ``conv_stem`` after building.

For ``ResNet`` (built as ``block="Bottleneck"`` -> ``timm.models.resnet.Bottleneck``, ``stem_type="deep"``,
``avg_down=True``) two more entries replace layers under timm's own key names after building:

- ``stem``: ``{"widths": [mid, out], "residual": bool, "stride": int, "max_pool": bool}`` rebuilds the deep stem
  ``conv1`` (``conv1.0``-``conv1.2``: 3x3 convolution of ``stride`` to ``mid``, BN, ReLU; ``conv1.3``-``conv1.5``: the
  ``mid`` 3x3 convolution, BN, ReLU, whose output is added to its input (``x + ReLU(BN(conv(x)))``) where
  ``residual``, absent otherwise; ``conv1.6``: 3x3 convolution to ``out``) and ``bn1`` of ``out`` channels; without
  ``max_pool`` the ``maxpool`` is an identity;
- ``bottlenecks``: one ``{"stride": int, "widths": [int, ...]}`` per stage (``layer1``, ``layer2``, ...): each
  bottleneck's ``conv1``/``bn1``/``conv2``/``bn2``/``conv3`` are rebuilt for its middle width (``widths``, one per
  block), the first block's ``conv2`` takes ``stride``, input widths follow on from ``bn1`` (the stem's output), and
  a block has a ``downsample`` exactly where stride or width changes (timm's rule; timm's ``downsample_avg``: 2x2
  average pool, none at stride 1, then 1x1 convolution and BN).

Both are null for the other classes, and configs without them load as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from search_spaces import ConfigError

__all__ = ["TIMM_FORMAT", "TIMM_FORMAT_VERSION", "TimmModelSpec", "batch_norm_eps", "renamed_state"]

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
        blocks: per-layer transformer blocks ``{"num_heads": int, "mlp_ratio": float, "attn_head_dim": int}`` replacing
            ``model.blocks[i]`` where layers differ (see the module docstring); None keeps timm's uniform blocks.
        stem: a ``ResNet``'s input stem ``{"widths", "residual", "stride", "max_pool"}`` replacing timm's deep stem;
            None keeps timm's.
        bottlenecks: a ``ResNet``'s stages ``{"stride": int, "widths": [int, ...]}``, the middle width of every
            bottleneck; None keeps timm's.
    """

    timm_class: str
    model_args: Mapping[str, Any]
    state_dict: Mapping[str, Tensor]
    stem_stride: int | None = None
    blocks: tuple[Mapping[str, Any] | None, ...] | None = field(default=None)
    stem: Mapping[str, Any] | None = None
    bottlenecks: tuple[Mapping[str, Any], ...] | None = None


def renamed_state(state: Mapping[str, Tensor], modules: Mapping[str, str]) -> dict[str, Tensor]:
    """``state`` with every tensor's module path renamed by ``modules`` (``"stem.conv"`` -> ``"conv_stem"`` turns
    ``stem.conv.weight`` into ``conv_stem.weight``); a tensor of a module not in ``modules`` raises KeyError."""
    renamed: dict[str, Tensor] = {}
    for key, value in state.items():
        module, _, name = key.rpartition(".")
        if module not in modules:
            raise KeyError(f"no timm name for {key!r}")
        renamed[f"{modules[module]}.{name}"] = value
    return renamed


def batch_norm_eps(model: nn.Module) -> float:
    """The one batch-norm epsilon of every layer of ``model`` (timm's constructors take one for the whole network);
    ConfigError when the layers differ."""
    found = {module.eps for module in model.modules() if isinstance(module, nn.BatchNorm2d)}
    if len(found) != 1:
        raise ConfigError(
            f"format 'timm' cannot write batch norms with epsilons {sorted(found)}; timm takes one",
            field="format",
            value="timm",
        )
    return float(found.pop())
