"""Static subnets of the elastic ViT family as native timm ``VisionTransformer`` models: what extraction produces,
``nas export`` rebuilds and ``nas export --format timm`` describes.

A subnet is timm's ``VisionTransformer`` (class token, token pooling, learnt position embedding, qkv bias, LayerNorm
eps 1e-6, ``dynamic_img_size=True`` so it also runs on other image sizes by resampling the position embedding, as
the supernet does). Where a layer's heads or MLP ratio differ from the constructor's, or its head width is not
``embed_dim / heads``, ``blocks[i]`` is replaced by a timm ``Block`` of that layer whose ``attn`` is timm's
``Attention(dim, heads, attn_head_dim=head_dim)``: timm's ``Block`` does not pass a head width to its attention,
so a head width other than ``dim / heads`` needs that one replacement, with timm's own class.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nas.supernet.timm_model import TimmModelSpec
from search_spaces import Arch
from search_spaces.autoformer import AutoFormerSpace

__all__ = ["layer_specs", "timm_block", "vit_export", "vit_model_args", "vit_subnet"]


def layer_specs(space: AutoFormerSpace, arch: Arch) -> list[dict[str, Any]]:
    """Per layer of ``arch``: ``{"num_heads", "mlp_ratio", "attn_head_dim"}`` (the keys of ``TimmModelSpec.blocks``)."""
    return [
        {"num_heads": heads, "mlp_ratio": ratio, "attn_head_dim": space.head_dim} for heads, ratio in space.layers(arch)
    ]


def vit_model_args(space: AutoFormerSpace, arch: Arch, num_classes: int, dropout: float = 0.0) -> dict[str, Any]:
    """JSON constructor options of timm's ``VisionTransformer`` for ``arch`` (uniform blocks of layer 1's heads
    and MLP ratio; :func:`layer_specs` gives the per-layer ones)."""
    first_heads, first_ratio = space.layers(arch)[0]
    return {
        "img_size": space.resolution,
        "patch_size": space.patch_size,
        "in_chans": 3,
        "num_classes": num_classes,
        "global_pool": "token",
        "embed_dim": int(arch["embed_dim"]),
        "depth": int(arch["depth"]),
        "num_heads": first_heads,
        "mlp_ratio": first_ratio,
        "qkv_bias": True,
        "class_token": True,
        "dynamic_img_size": True,
        "drop_rate": float(dropout),
    }


def _uniform(specs: list[dict[str, Any]], args: dict[str, Any]) -> bool:
    """Whether timm's constructor alone builds every layer as ``specs`` says."""
    dim = args["embed_dim"]
    return all(
        spec["num_heads"] == args["num_heads"]
        and spec["mlp_ratio"] == args["mlp_ratio"]
        and spec["attn_head_dim"] * spec["num_heads"] == dim
        for spec in specs
    )


def timm_block(dim: int, spec: dict[str, Any], device: torch.device | str | None = None) -> nn.Module:
    """timm's ``Block`` for one layer (qkv bias, as ``VisionTransformer`` builds it) with the layer's head width."""
    from timm.layers import Attention
    from timm.models.vision_transformer import Block

    block = Block(dim, spec["num_heads"], spec["mlp_ratio"], qkv_bias=True, device=device)
    if spec["attn_head_dim"] * spec["num_heads"] != dim:
        block.attn = Attention(
            dim, spec["num_heads"], attn_head_dim=spec["attn_head_dim"], qkv_bias=True, device=device
        )
    return block


def vit_subnet(
    space: AutoFormerSpace,
    arch: Arch,
    num_classes: int,
    *,
    dropout: float = 0.0,
    device: torch.device | str | None = None,
) -> nn.Module:
    """timm's ``VisionTransformer`` of ``arch`` with per-layer blocks where layers differ, freshly initialised
    (``device="meta"``: shapes only); ``arch`` and ``space_name`` are set on it."""
    from timm.models.vision_transformer import VisionTransformer

    args = vit_model_args(space, arch, num_classes, dropout)
    weight_init = "skip" if torch.device(device or "cpu").type == "meta" else ""
    model = VisionTransformer(**args, weight_init=weight_init, device=device)
    specs = layer_specs(space, arch)
    if not _uniform(specs, args):
        for index, spec in enumerate(specs):
            model.blocks[index] = timm_block(args["embed_dim"], spec, device)
        if weight_init:
            model.init_weights()
    model.arch = arch
    model.space_name = space.name
    return model


def vit_export(space: AutoFormerSpace, arch: Arch, subnet: nn.Module) -> TimmModelSpec:
    """The static subnet as timm's ``VisionTransformer``: constructor options, per-layer blocks (None where the
    constructor's uniform blocks are right) and the subnet's own state dict (already under timm's names)."""
    args = vit_model_args(space, arch, _num_classes(subnet), _dropout(subnet))
    specs = layer_specs(space, arch)
    blocks = None if _uniform(specs, args) else tuple(specs)
    return TimmModelSpec("VisionTransformer", args, dict(subnet.state_dict()), blocks=blocks)


def _num_classes(subnet: nn.Module) -> int:
    return int(subnet.head.out_features)


def _dropout(subnet: nn.Module) -> float:
    return float(subnet.head_drop.p)
