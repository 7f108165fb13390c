"""Neural architecture search on once-for-all supernets: the public API.

>>> import nas
>>> supernet = nas.create_supernet("ofa_mbv3_small", num_classes=10)
>>> subnet = supernet.extract(supernet.space.smallest())
"""

from __future__ import annotations

from nas.exceptions import (
    CheckpointError,
    ConfigError,
    DataError,
    InvalidArchError,
    NasError,
    UnknownNameError,
)
from nas.export import load_subnet
from nas.supernet import create_supernet, list_supernets, load_supernet, save_supernet
from search_spaces import Arch, get_space, list_spaces

__version__ = "0.1.0"

__all__ = [
    "Arch",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "InvalidArchError",
    "NasError",
    "UnknownNameError",
    "create_supernet",
    "get_space",
    "list_spaces",
    "list_supernets",
    "load_subnet",
    "load_supernet",
    "save_supernet",
]
