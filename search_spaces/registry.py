"""Registry of search spaces: ``@register_space`` on a factory, ``get_space(name)`` to build one."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from search_spaces.base import SearchSpace
from search_spaces.errors import UnknownNameError

__all__ = ["get_space", "list_spaces", "register_space"]

_FACTORIES: dict[str, Callable[[], SearchSpace]] = {}


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Register a zero-argument factory under ``name``; spaces are immutable, so one instance is shared."""

    def decorate(factory: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        if name in _FACTORIES:
            raise ValueError(f"search space {name!r} is registered twice")
        _FACTORIES[name] = factory
        return factory

    return decorate


def list_spaces() -> list[str]:
    """Names of all registered spaces, sorted."""
    return sorted(_FACTORIES)


def get_space(name: str) -> SearchSpace:
    """The space registered under ``name``.

    Raises:
        UnknownNameError: listing the registered names.
    """
    if not isinstance(name, str) or name not in _FACTORIES:
        raise UnknownNameError("search space", name, _FACTORIES)
    return _build(name)


@cache
def _build(name: str) -> SearchSpace:
    return _FACTORIES[name]()
