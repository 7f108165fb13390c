"""Supernets: the :class:`Supernet` contract, the family registry (every kind of network registers there once),
cost models, latency parts and the supernet file format. Importing this package registers the families."""

from __future__ import annotations

from nas.supernet import families  # noqa: F401  (registers the families)
from nas.supernet.base import Supernet
from nas.supernet.checkpoint import load_supernet, save_supernet
from nas.supernet.costs import CostModel, Metric
from nas.supernet.families import from_timm
from nas.supernet.parts import PartModel, SubnetPart
from nas.supernet.registry import (
    Family,
    cost_model,
    create_supernet,
    family_of,
    list_families,
    list_supernets,
    part_model,
    register_family,
)

__all__ = [
    "CostModel",
    "Family",
    "Metric",
    "PartModel",
    "SubnetPart",
    "Supernet",
    "cost_model",
    "create_supernet",
    "family_of",
    "from_timm",
    "list_families",
    "list_supernets",
    "load_supernet",
    "part_model",
    "register_family",
    "save_supernet",
]
