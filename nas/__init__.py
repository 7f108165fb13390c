"""Neural architecture search on once-for-all supernets: the public API.

>>> import nas
>>> supernet = nas.create_supernet("ofa_mbv3_small", num_classes=10)
>>> subnet = supernet.extract(supernet.space.smallest())

Importing ``nas`` registers every family (``nas.supernet.families``) and evaluation procedure (``nas.spiking``).
"""

from __future__ import annotations

from nas import spiking  # noqa: F401  (registers the spiking evaluation procedures)
from nas.export import load_subnet
from nas.supernet import (
    Family,
    Supernet,
    cost_model,
    create_supernet,
    family_of,
    list_families,
    list_supernets,
    load_supernet,
    register_family,
    save_supernet,
)
from search_spaces import (
    Arch,
    CheckpointError,
    ConfigError,
    DataError,
    InvalidArchError,
    NasError,
    UnknownNameError,
    arch_from_json,
    get_space,
    list_spaces,
    parse_arch,
)

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "Family",
    "InvalidArchError",
    "NasError",
    "Supernet",
    "UnknownNameError",
    "arch_from_json",
    "cost_model",
    "create_supernet",
    "family_of",
    "get_space",
    "list_families",
    "list_spaces",
    "list_supernets",
    "load_subnet",
    "load_supernet",
    "parse_arch",
    "register_family",
    "save_supernet",
]
