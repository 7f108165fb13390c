"""Latency of archs predicted from a device's latency table: each arch's parts (from its family) looked up and
summed, then corrected; memoized per arch because a search asks for many."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nas.supernet.registry import part_model
from predictors.latency import LatencyTable
from search_spaces import Arch, ConfigError, SearchSpace

__all__ = ["LatencyModel"]


class LatencyModel:
    """Predicts archs' latencies from a table, caching each arch's part keys."""

    def __init__(self, table: LatencyTable, space: SearchSpace):
        if table.space != space.name:
            raise ConfigError(
                f"latency table is for space {table.space!r}, not {space.name!r}",
                field="latency_table",
                value=table.space,
            )
        self.table, self.space = table, space
        self.parts = part_model(space, table.num_classes)
        self._keys: dict[Arch, list[str]] = {}

    def keys(self, arch: Arch) -> list[str]:
        """The table keys of ``arch``'s parts."""
        cached = self._keys.get(arch)
        if cached is None:
            cached = [part.key for part in self.parts.parts(arch)]
            self._keys[arch] = cached
        return cached

    def raw(self, archs: Iterable[Arch]) -> np.ndarray:
        """Raw table sums (milliseconds) per arch."""
        return np.array([self.table.raw_ms(self.keys(arch)) for arch in archs], dtype=np.float64)

    def predict(self, archs: Iterable[Arch]) -> np.ndarray:
        """Predicted end-to-end milliseconds per arch."""
        raw = self.raw(archs)
        correction = self.table.correction
        return np.asarray(correction.apply(raw) if correction else raw, dtype=np.float64)
