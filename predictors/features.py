"""Feature rows for architectures: the space's one-hot encoding plus "free" statistics (MACs, parameters, depth),
which FBNetV3 showed pre-train a predictor cheaply. Statistics come in as functions, so this package needs no
supernet; rows are cached per architecture."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from search_spaces import Arch, SearchSpace

__all__ = ["ArchFeaturizer"]


class ArchFeaturizer:
    """One row per arch: one-hot of every decision, the total depth (if the space has depths) and statistics."""

    def __init__(self, space: SearchSpace, statistics: Mapping[str, Callable[[Arch], float]] | None = None):
        self.space = space
        self.statistics = dict(statistics or {})
        self._depth_labels = [label for label in space.labels() if label.endswith("_depth")]
        self._cache: dict[Arch, list[float]] = {}

    @property
    def names(self) -> list[str]:
        """Column names, in row order."""
        extra = ["total_depth"] if self._depth_labels else []
        return [*self.space.feature_names(), *extra, *self.statistics]

    def row(self, arch: Arch) -> list[float]:
        cached = self._cache.get(arch)
        if cached is None:
            cached = list(self.space.encode(arch))
            if self._depth_labels:
                cached.append(float(sum(int(arch[label]) for label in self._depth_labels)))
            cached.extend(float(statistic(arch)) for statistic in self.statistics.values())
            self._cache[arch] = cached
        return cached

    def matrix(self, archs: Iterable[Arch]) -> np.ndarray:
        """Rows for ``archs`` as a float matrix."""
        return np.array([self.row(arch) for arch in archs], dtype=np.float64)
