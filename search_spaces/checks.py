"""Checks of user-given settings, each raising one :class:`~search_spaces.errors.ConfigError` that names the field,
the value and the rule it breaks. Conditions are written so that NaN fails them."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from search_spaces.errors import ConfigError, describe_choices, short_repr

__all__ = ["check_at_least", "check_choice", "check_count", "check_number", "require"]


def require(ok: bool, field: str, value: Any, rule: str) -> None:
    """Raise ``ConfigError("{field}={value} must be {rule}")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"{field}={short_repr(value)} must be {rule}", field=field, value=value, allowed=rule)


def check_at_least(**settings: tuple[Any, float]) -> None:
    """Each ``name=(value, minimum)`` must have ``value >= minimum``."""
    for name, (value, minimum) in settings.items():
        require(value >= minimum, name, value, f">= {minimum}")


def check_count(field: str, value: Any, minimum: int = 0, maximum: int | None = None) -> int:
    """``value`` as an integer in ``minimum..maximum`` (a bool is no integer)."""
    integer = isinstance(value, int) and not isinstance(value, bool)
    if maximum is None:
        require(integer and value >= minimum, field, value, f"an integer >= {minimum}")
    else:
        require(integer and minimum <= value <= maximum, field, value, f"an integer in {minimum}..{maximum}")
    return int(value)


def check_number(field: str, value: Any, minimum: float = -math.inf, *, strict: bool = False) -> float:
    """``value`` as a finite number ``>= minimum`` (``> minimum`` when ``strict``)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    above = number and (value > minimum if strict else value >= minimum)
    bound = "" if minimum == -math.inf else f" {'>' if strict else '>='} {minimum:g}"
    require(above, field, value, f"a finite number{bound}")
    return float(value)


def check_choice(field: str, value: Any, allowed: Collection[Any]) -> Any:
    """``value`` when it is one of ``allowed``."""
    allowed = tuple(allowed)
    if not any(value == choice and type(value) is type(choice) for choice in allowed):
        raise ConfigError(
            f"{field}={short_repr(value)} not in {describe_choices(allowed)}",
            field=field,
            value=value,
            allowed=list(allowed),
        )
    return value
