"""The platform's exception hierarchy.

It lives in the lowest package so that ``search_spaces``, ``predictors`` and ``nas`` share one root without an
upward import; ``nas`` re-exports every name. Each error raised for bad user input names the field, the value
and what is allowed, so the CLI can print it as is and exit with code 2.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "InvalidArchError",
    "NasError",
    "UnknownNameError",
    "describe_choices",
    "short_repr",
]


class NasError(Exception):
    """Root of every error the platform raises on purpose."""


class ConfigError(NasError, ValueError):
    """User input that is not valid: names the field, the offending value and what is allowed."""

    def __init__(self, message: str, *, field: str | None = None, value: Any = None, allowed: Any = None):
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = allowed


class InvalidArchError(ConfigError):
    """An architecture description that does not belong to its search space."""


class UnknownNameError(ConfigError):
    """A name (space, supernet, data set, ...) that is not registered; the message lists the valid ones."""

    def __init__(self, kind: str, name: Any, valid: Iterable[str]):
        names = sorted(valid)
        super().__init__(
            f"unknown {kind} {name!r}; valid {kind}s: {', '.join(names)}",
            field=kind,
            value=name,
            allowed=names,
        )


class DataError(NasError):
    """A data set that cannot be found or read."""


class CheckpointError(NasError):
    """A checkpoint or model file that is missing, corrupt, unsafe or made for another model."""


def describe_choices(choices: Iterable[Any]) -> str:
    """Format allowed values for a message: ``{3, 5, 7}``, or ``{128, 132, ..., 224}`` for a long even range."""
    values = list(choices)
    if len(values) > 6 and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        steps = {b - a for a, b in itertools.pairwise(values)}
        if len(steps) == 1:
            return f"{{{values[0]}, {values[1]}, ..., {values[-1]}}}"
    return "{" + ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values) + "}"


_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlong = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 6
_SHORT.maxlevel = 3


def short_repr(value: Any) -> str:
    """``repr`` for an error message, cut short: a hostile value (a megabyte string, a 5,000-digit number, a list
    of a billion aliased items from YAML) must not make the message itself huge or slow."""
    return _SHORT.repr(value)
