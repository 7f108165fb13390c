"""The once-for-all ResNet family: elastic depth, width and expand ratio over ResNet-50's bottleneck blocks."""

from __future__ import annotations

from nas.supernet.families.resnet.costs import ResNetCosts
from nas.supernet.families.resnet.elastic import ElasticBottleneck, ElasticResNet
from nas.supernet.families.resnet.parts import ResNetParts
from nas.supernet.families.resnet.published import PUBLISHED
from nas.supernet.families.resnet.static import ResNetSubnet
from nas.supernet.part_costs import MEMORY_METRICS
from nas.supernet.registry import Family, register_family

__all__ = ["FAMILY", "ElasticBottleneck", "ElasticResNet", "ResNetCosts", "ResNetSubnet"]

_NO_TIMM = (
    "timm's ResNet cannot express once-for-all ResNet subnets: its bottlenecks derive every middle width from one "
    "network-wide base_width, where each once-for-all block picks its own expand ratio, and its deep stem has "
    "neither the residual middle convolution nor the two-convolution form of once-for-all's elastic stem; "
    "export the pytorch, torchscript, pt2 or onnx format instead"
)

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
        timm_note=_NO_TIMM,
    )
)
