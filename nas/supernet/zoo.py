"""The registered supernets: one decorated function each, named after its search space."""

from __future__ import annotations

from typing import Any, cast

from nas.supernet.families.mobilenetv3.elastic import ElasticMobileNetV3
from nas.supernet.families.spiking.network import SpikingResNet
from nas.supernet.registry import register_supernet
from search_spaces import MobileNetV3Space, SpikingResNetSpace, get_space

__all__ = ["ofa_mbv3", "ofa_mbv3_small", "qcfs_resnet", "spiking_resnet"]


def _space(name: str) -> MobileNetV3Space:
    return cast(MobileNetV3Space, get_space(name))


@register_supernet
def ofa_mbv3(num_classes: int = 1000, dropout: float = 0.1) -> ElasticMobileNetV3:
    """Once-for-all MobileNetV3 (width 1.0) for 128..224 px inputs."""
    return ElasticMobileNetV3(_space("ofa_mbv3"), num_classes, dropout)


@register_supernet
def ofa_mbv3_small(num_classes: int = 10, dropout: float = 0.1) -> ElasticMobileNetV3:
    """The same elastic blocks with 8x total downsampling, for 24..32 px inputs (digits, CIFAR-10)."""
    return ElasticMobileNetV3(_space("ofa_mbv3_small"), num_classes, dropout)


@register_supernet
def spiking_resnet(num_classes: int = 10, dropout: float = 0.0, **options: Any) -> SpikingResNet:
    """Spiking ResNet (LIF neurons; ``neuron="plif"`` learns the leak) with elastic T, threshold and tau."""
    return SpikingResNet(cast(SpikingResNetSpace, get_space("spiking_resnet")), num_classes, dropout, **options)


@register_supernet
def qcfs_resnet(num_classes: int = 10, dropout: float = 0.0, **options: Any) -> SpikingResNet:
    """The conversion-friendly ANN twin of ``spiking_resnet`` (QCFS activations), for ANN-to-SNN conversion."""
    return SpikingResNet(cast(SpikingResNetSpace, get_space("qcfs_resnet")), num_classes, dropout, **options)
