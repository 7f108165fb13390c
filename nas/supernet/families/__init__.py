"""The registered network families; importing this package registers each of them (one import line a family)."""

from __future__ import annotations

from nas.supernet.families import mobilenetv3, proxyless, resnet, spiking, timm_blocks, vit
from nas.supernet.families.timm_blocks import from_timm

__all__ = ["from_timm", "mobilenetv3", "proxyless", "resnet", "spiking", "timm_blocks", "vit"]
