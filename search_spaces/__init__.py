"""Architecture types and search spaces. Holds no weights and imports nothing from ``nas`` or ``predictors``."""

from __future__ import annotations

from search_spaces import autoformer as _autoformer  # noqa: F401  (registers the spaces)
from search_spaces import nb201 as _nb201  # noqa: F401
from search_spaces import ofa_mbv3 as _ofa_mbv3  # noqa: F401
from search_spaces import ofa_proxyless as _ofa_proxyless  # noqa: F401
from search_spaces import ofa_resnet as _ofa_resnet  # noqa: F401
from search_spaces import spiking as _spiking  # noqa: F401
from search_spaces.arch import Arch, Choice
from search_spaces.base import Decision, SearchSpace
from search_spaces.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    InvalidArchError,
    NasError,
    UnknownNameError,
)
from search_spaces.ofa_mbv3 import MobileNetV3Space, StageSpec, make_divisible
from search_spaces.ofa_proxyless import ProxylessSpace, ProxylessStage
from search_spaces.ofa_resnet import ResNetSpace, ResNetStage
from search_spaces.parsing import arch_from_json, parse_arch
from search_spaces.registry import Registry, get_space, list_spaces, register_space
from search_spaces.spiking import SpikingResNetSpace

__all__ = [
    "Arch",
    "CheckpointError",
    "Choice",
    "ConfigError",
    "DataError",
    "Decision",
    "InvalidArchError",
    "MobileNetV3Space",
    "NasError",
    "ProxylessSpace",
    "ProxylessStage",
    "Registry",
    "ResNetSpace",
    "ResNetStage",
    "SearchSpace",
    "SpikingResNetSpace",
    "StageSpec",
    "UnknownNameError",
    "arch_from_json",
    "get_space",
    "list_spaces",
    "make_divisible",
    "parse_arch",
    "register_space",
]
