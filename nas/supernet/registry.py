"""Supernet registry in the timm style: ``@register_supernet`` on a factory, ``create_supernet(name)`` to build."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from search_spaces import UnknownNameError

__all__ = ["create_supernet", "list_supernets", "register_supernet"]

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}


def register_supernet(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a factory under its function name; it takes ``num_classes`` and keyword options."""
    name = factory.__name__
    if name in _FACTORIES:
        raise ValueError(f"supernet {name!r} is registered twice")
    _FACTORIES[name] = factory
    return factory


def list_supernets() -> list[str]:
    """Names of all registered supernets, sorted."""
    return sorted(_FACTORIES)


def create_supernet(name: str, num_classes: int = 1000, **options: Any) -> nn.Module:
    """Build the supernet registered under ``name`` with fresh weights.

    Raises:
        UnknownNameError: listing the registered names.
    """
    if not isinstance(name, str) or name not in _FACTORIES:
        raise UnknownNameError("supernet", name, _FACTORIES)
    return _FACTORIES[name](num_classes=num_classes, **options)
