"""The platform's exceptions (defined in :mod:`search_spaces.errors`, the lowest layer, and re-exported here)."""

from __future__ import annotations

from search_spaces.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    InvalidArchError,
    NasError,
    UnknownNameError,
)

__all__ = ["CheckpointError", "ConfigError", "DataError", "InvalidArchError", "NasError", "UnknownNameError"]
