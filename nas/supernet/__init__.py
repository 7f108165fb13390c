"""Elastic networks, extraction to static subnets, and the supernet file format."""

from __future__ import annotations

from nas.supernet import zoo as _zoo  # noqa: F401  (registers the supernets)
from nas.supernet.checkpoint import load_supernet, save_supernet
from nas.supernet.families.mobilenetv3.elastic import ElasticMBConv, ElasticMobileNetV3
from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet
from nas.supernet.registry import create_supernet, list_supernets, register_supernet

__all__ = [
    "ElasticMBConv",
    "ElasticMobileNetV3",
    "MobileNetV3Subnet",
    "create_supernet",
    "list_supernets",
    "load_supernet",
    "register_supernet",
    "save_supernet",
]
