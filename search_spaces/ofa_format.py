"""Once-for-all's spec format, shared by every space that reads and writes it.

once-for-all's tools write a subnet as ``{"wid": null, "ks": [...], "e": [...], "d": [...], "r": [224]}``
(MobileNets) or ``{"d": [...], "e": [...], "w": [...], "r": [224]}`` (ResNet-50): per-slot lists, the resolution
as a one-element list (older tables write a bare integer) and, for MobileNets, an unused width key ``wid``.
These helpers check such a spec field by field, so every space reports a bad one the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search_spaces.errors import InvalidArchError, describe_choices, short_repr

__all__ = ["check_spec_keys", "spec_list", "spec_resolution"]

UNUSED_WIDTH_KEY = "wid"
"""The MobileNet specs' width key: once-for-all writes None there (its published nets have one width)."""


def check_spec_keys(config: Any, keys: tuple[str, ...], extra_keys: tuple[str, ...] = ()) -> Mapping[str, Any]:
    """``config`` as a mapping holding only ``keys``, ``extra_keys`` and a null ``wid``.

    Raises:
        InvalidArchError: naming the first unknown key, or a ``wid`` other than null.
    """
    if not isinstance(config, Mapping):
        raise InvalidArchError(
            f"OFA config must be a JSON object, got {type(config).__name__}", field="config", value=config
        )
    for key in config:
        if key == UNUSED_WIDTH_KEY and UNUSED_WIDTH_KEY not in keys:
            if config[key] is not None:
                raise InvalidArchError(
                    f"wid={short_repr(config[key])} in OFA config: only null is supported (the published "
                    "supernets have one width)",
                    field=UNUSED_WIDTH_KEY,
                    value=config[key],
                    allowed=[None],
                )
        elif key not in keys and key not in extra_keys:
            raise InvalidArchError(
                f"unknown field {short_repr(key)} in OFA config; allowed: {', '.join((*keys, UNUSED_WIDTH_KEY))}",
                field=str(key),
                value=config[key],
                allowed=keys,
            )
    return config


def spec_resolution(config: Mapping[str, Any], allowed: tuple[int, ...]) -> int:
    """The resolution ``r`` of a spec: an integer or a one-element list of one, among ``allowed``."""
    if "r" not in config:
        raise InvalidArchError("missing field 'r' in OFA config", field="r", allowed=allowed)
    value = config["r"]
    if isinstance(value, list):
        if len(value) != 1:
            raise InvalidArchError(
                f"r={short_repr(value)} must be one resolution (an integer or a one-element list)",
                field="r",
                value=value,
                allowed=allowed,
            )
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArchError(
            f"r={short_repr(value)} has type {type(value).__name__}; expected an integer (or a one-element list)",
            field="r",
            value=value,
            allowed=allowed,
        )
    if value not in allowed:
        raise InvalidArchError(
            f"r={short_repr(value)} not in {describe_choices(allowed)}", field="r", value=value, allowed=allowed
        )
    return value


def spec_list(config: Mapping[str, Any], key: str, length: int, allowed: tuple[Any, ...]) -> list[Any]:
    """The list ``config[key]`` of exactly ``length`` values, each one of ``allowed`` (integers, or numbers where
    ``allowed`` holds fractions such as ResNet's expand ratios)."""
    if key not in config:
        raise InvalidArchError(f"missing field {key!r} in OFA config", field=key, allowed=allowed)
    values = config[key]
    integers = all(isinstance(choice, int) for choice in allowed)
    if not isinstance(values, list):
        kind = "integers" if integers else "numbers"
        raise InvalidArchError(
            f"{key} must be a list of {length} {kind}, got {type(values).__name__}", field=key, value=values
        )
    if len(values) != length:
        raise InvalidArchError(
            f"{key} has {len(values)} entries, expected {length}", field=key, value=values, allowed=length
        )
    numbers = (int,) if integers else (int, float)
    checked = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers) or value not in allowed:
            raise InvalidArchError(
                f"{key}[{index}]={short_repr(value)} not in {describe_choices(allowed)}",
                field=f"{key}[{index}]",
                value=value,
                allowed=allowed,
            )
        checked.append(allowed[allowed.index(value)])
    return checked
