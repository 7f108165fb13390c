"""The once-for-all MobileNetV3 family: elastic kernel, expand ratio and depth over MobileNetV3 blocks."""

from __future__ import annotations

from nas.supernet.families.mobilenetv3.costs import MobileNetV3Costs
from nas.supernet.families.mobilenetv3.elastic import ElasticMBConv, ElasticMobileNetV3
from nas.supernet.families.mobilenetv3.parts import MobileNetV3Parts
from nas.supernet.families.mobilenetv3.published import PUBLISHED
from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet
from nas.supernet.families.mobilenetv3.timm_export import mobilenetv3_timm_spec
from nas.supernet.part_costs import MEMORY_METRICS
from nas.supernet.registry import Family, register_family

__all__ = ["FAMILY", "ElasticMBConv", "ElasticMobileNetV3", "MobileNetV3Costs", "MobileNetV3Subnet"]

FAMILY = register_family(
    Family(
        name="mobilenetv3",
        spaces=("ofa_mbv3", "ofa_mbv3_w12", "ofa_mbv3_small"),
        supernet=ElasticMobileNetV3,
        costs=MobileNetV3Costs,
        parts=MobileNetV3Parts,
        static_subnet=MobileNetV3Subnet,
        metrics=MEMORY_METRICS,
        published=PUBLISHED,
        timm_export=mobilenetv3_timm_spec,
    )
)
