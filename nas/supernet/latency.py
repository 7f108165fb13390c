"""Latency of archs predicted from a device's latency table: each arch's parts (from its family) looked up once into
a feature row (per-part time, parts, operations, activations), then the table's fitted model applied to many rows
at once, so a search asks for thousands of archs in milliseconds."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from nas.supernet.registry import part_model
from predictors.latency import LatencyTable
from predictors.latency_fit import FEATURES
from search_spaces import Arch, ConfigError, SearchSpace

__all__ = ["LatencyModel"]


class LatencyModel:
    """Predicts archs' latencies from a table, caching each arch's feature row."""

    def __init__(self, table: LatencyTable, space: SearchSpace):
        if table.space != space.name:
            raise ConfigError(
                f"latency table is for space {table.space!r}, not {space.name!r}",
                field="latency_table",
                value=table.space,
            )
        self.table, self.space = table, space
        self.parts = part_model(space, table.num_classes)
        self._rows: dict[Arch, np.ndarray] = {}

    def keys(self, arch: Arch) -> list[str]:
        """The table keys of ``arch``'s parts."""
        return [part.key for part in self.parts.parts(arch)]

    def features(self, archs: Iterable[Arch]) -> np.ndarray:
        """One feature row per arch (``predictors.latency_fit.FEATURES``)."""
        rows = []
        for arch in archs:
            row = self._rows.get(arch)
            if row is None:
                row = self._rows[arch] = self.table.features(self.keys(arch))
            rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))

    def raw(self, archs: Iterable[Arch]) -> np.ndarray:
        """Raw per-part sums (milliseconds) per arch."""
        return self.features(archs)[:, 0]

    def predict(self, archs: Iterable[Arch]) -> np.ndarray:
        """Predicted end-to-end milliseconds per arch (the raw sums when the table has no fitted model)."""
        rows = self.features(archs)
        return rows[:, 0].copy() if self.table.model is None else self.table.model.predict(rows)
