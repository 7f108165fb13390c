"""Named plug-ins: one :class:`Registry` class behind every name the platform looks up (spaces, families,
predictors, samplers, data sets, devices, export formats, ...), and the registry of search spaces.

A registry refuses a name registered twice (a plug-in never silently replaces another) and answers an unknown name
with an :class:`~search_spaces.errors.UnknownNameError` that lists the registered ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Any, Generic, TypeVar

from search_spaces.arch import Arch
from search_spaces.base import SearchSpace
from search_spaces.errors import UnknownNameError

__all__ = ["ARCH_FORMATS", "SPACES", "Registry", "get_space", "list_spaces", "register_space"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name.

    Args:
        kind: what an entry is, for messages (``"search space"``, ``"sampler"``).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` under ``name``; returns it (so it can end a decorator)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda entry: self.add(name, entry)

    def get(self, name: object) -> T:
        """The entry registered under ``name``.

        Raises:
            UnknownNameError: listing the registered names.
        """
        if not isinstance(name, str) or name not in self._entries:
            raise UnknownNameError(self.kind, name, self._entries)
        return self._entries[name]

    __getitem__ = get

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs in registration order."""
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


SPACES: Registry[Callable[[], SearchSpace]] = Registry("search space")
ARCH_FORMATS: Registry[Callable[[Any], Arch]] = Registry("arch format")
"""Parsers of architectures written as one string (a table's arch column), by name; a space registers its own."""


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Register a zero-argument factory under ``name``; spaces are immutable, so one instance is shared."""
    return SPACES.register(name)


def list_spaces() -> list[str]:
    """Names of all registered spaces, sorted."""
    return SPACES.names()


def get_space(name: str) -> SearchSpace:
    """The space registered under ``name``.

    Raises:
        UnknownNameError: listing the registered names.
    """
    return _build(SPACES.get(name))


@cache
def _build(factory: Callable[[], SearchSpace]) -> SearchSpace:
    return factory()
