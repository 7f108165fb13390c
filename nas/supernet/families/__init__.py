"""The registered network families; importing this package registers each of them (one import line a family)."""

from __future__ import annotations

from nas.supernet.families import mobilenetv3, proxyless, resnet, spiking

__all__ = ["mobilenetv3", "proxyless", "resnet", "spiking"]
