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
    )
)
