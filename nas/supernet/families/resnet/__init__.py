"""The once-for-all ResNet family: elastic depth, width and expand ratio over ResNet-50's bottleneck blocks."""

from __future__ import annotations

from nas.supernet.families.resnet.costs import ResNetCosts
from nas.supernet.families.resnet.elastic import ElasticBottleneck, ElasticResNet
from nas.supernet.families.resnet.parts import ResNetParts
from nas.supernet.families.resnet.published import PUBLISHED
from nas.supernet.families.resnet.static import ResNetSubnet
from nas.supernet.families.resnet.timm_export import resnet_timm_spec
from nas.supernet.part_costs import MEMORY_METRICS
from nas.supernet.registry import Family, register_family

__all__ = ["FAMILY", "ElasticBottleneck", "ElasticResNet", "ResNetCosts", "ResNetSubnet"]

FAMILY = register_family(
    Family(
        name="resnet",
        spaces=("ofa_resnet50", "ofa_resnet50_small"),
        supernet=ElasticResNet,
        costs=ResNetCosts,
        parts=ResNetParts,
        static_subnet=ResNetSubnet,
        metrics=MEMORY_METRICS,
        published=PUBLISHED,
        timm_export=resnet_timm_spec,
    )
)
