"""Checks of :func:`~nas.data.registry.load_dataset`'s arguments, made once before any loader runs, and of the
root folder a file-based loader reads.

Numpy integers and floats are accepted where Python ones are (a resolution or seed may come out of an array), so
these checks are written here rather than with :mod:`search_spaces.checks`, which takes Python numbers only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces.errors import ConfigError, DataError

__all__ = [
    "MAX_RESOLUTION",
    "MIN_RESOLUTION",
    "check_fraction",
    "check_resolution",
    "check_root",
    "check_seed",
    "root_folder",
]

MIN_RESOLUTION = 8
MAX_RESOLUTION = 512


def check_resolution(resolution: Any) -> None:
    """Raise ConfigError unless ``resolution`` is an int in 8..512."""
    if (
        isinstance(resolution, bool)
        or not isinstance(resolution, (int, np.integer))
        or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION
    ):
        raise ConfigError(
            f"resolution must be an integer from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {resolution!r}",
            field="resolution",
            value=resolution,
            allowed=f"{MIN_RESOLUTION}..{MAX_RESOLUTION}",
        )


def check_seed(seed: Any) -> None:
    """Raise ConfigError unless ``seed`` is an int usable as a numpy random state."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(
            f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}",
            field="seed",
            value=seed,
            allowed="0..2**32-1",
        )


def check_fraction(field: str, value: Any, *, allow_zero: bool) -> None:
    """Raise ConfigError unless ``value`` is a number in [0, 0.5) (``allow_zero``) or (0, 0.5)."""
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    low_ok = numeric and (value >= 0 if allow_zero else value > 0)
    if not (numeric and low_ok and value < 0.5):
        allowed = "[0, 0.5)" if allow_zero else "(0, 0.5)"
        raise ConfigError(
            f"{field} must be a number in {allowed}, got {value!r}", field=field, value=value, allowed=allowed
        )


def check_root(root: Any) -> None:
    """Raise ConfigError unless ``root`` is None or a path (whether a loader needs one is its own check)."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise ConfigError(
            f"root must be a path (str or os.PathLike) or None, got {type(root).__name__} {root!r}",
            field="root",
        )


def root_folder(
    root: str | os.PathLike[str] | None,
    when_missing: str,
    name: Callable[[Path], str],
    expected: Callable[[Path], str],
) -> Path:
    """``root`` as an existing folder, or a DataError that names it and what is expected there."""
    if root is None:
        raise DataError(when_missing)
    path = Path(root).expanduser()
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise DataError(f"{name(path)} {state}; expected {expected(path)}")
    return path
