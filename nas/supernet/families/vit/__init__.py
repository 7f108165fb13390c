"""The elastic vision-transformer family (AutoFormer): embedding width and depth, heads and MLP ratio per layer,
over timm's ViT modules with weight entanglement; subnets are timm ``VisionTransformer`` models."""

from __future__ import annotations

from nas.supernet.families.vit.costs import ViTCosts, ViTMemory
from nas.supernet.families.vit.elastic import ElasticViT
from nas.supernet.families.vit.parts import ViTParts
from nas.supernet.families.vit.static import vit_export, vit_subnet
from nas.supernet.part_costs import MEMORY_METRICS
from nas.supernet.registry import Family, register_family

__all__ = ["FAMILY", "ElasticViT", "ViTCosts", "ViTMemory", "ViTParts"]

_ADAMW = {"optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05, "min_lr": 1e-5}
"""Transformers train poorly with the SGD defaults (digits stay at chance at lr 0.1): AdamW as DeiT and AutoFormer
train them, with their weight decay; the learning rate suits batch 32."""

FAMILY = register_family(
    Family(
        name="vit",
        spaces=("autoformer_t", "autoformer_t_small"),
        supernet=ElasticViT,
        costs=ViTCosts,
        parts=ViTParts,
        static_subnet=vit_subnet,
        metrics=MEMORY_METRICS,
        timm_export=vit_export,
        train_defaults={"optim": _ADAMW},
    )
)
