"""A device's latency model from a few of its measurements and other devices' latency tables (few-shot transfer).

``nas profile --few-shot K --sources TABLE...`` measures K subnets end to end on the new device and writes a
*transfer file*: the source tables it used, the K archs and their milliseconds. :class:`TransferLatencyModel` fits
the transfer :class:`predictors.transfer.FewShotLatencyTransfer` (log-space ridge on the sources, the method ``nas
bench latency-transfer`` validates) on the sources' predictions for those K archs and a fixed pool of random archs,
and predicts any arch from the sources' predictions; a search reads a transfer file wherever it reads a table.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.supernet.latency import LatencyModel
from predictors.latency import LatencyTable
from predictors.transfer import FewShotLatencyTransfer
from search_spaces import Arch, CheckpointError, ConfigError, SearchSpace, get_space, safe_json
from search_spaces.atomic import atomic_write_json

__all__ = ["TRANSFER_FORMAT", "TransferFile", "TransferLatencyModel", "latency_predictor", "random_archs"]

TRANSFER_FORMAT = "nas-latency-transfer"
POOL = 256
"""Random archs beside the measured ones over which the transfer standardizes the sources' latencies."""


def random_archs(space: SearchSpace, count: int, seed: int, exclude: Iterable[Arch] = ()) -> list[Arch]:
    """``count`` distinct random archs of ``space`` (seeded), none of them in ``exclude``."""
    rng, taken, archs = random.Random(seed), set(exclude), []
    while len(archs) < count:
        arch = space.sample(rng)
        if arch not in taken:
            taken.add(arch)
            archs.append(arch)
    return archs


@dataclass
class TransferFile:
    """What ``nas profile --few-shot`` measured: the new device's K archs and milliseconds, and its source tables."""

    space: str
    device: str
    batch: int
    num_classes: int
    machine: dict[str, Any]
    sources: list[str]
    archs: list[dict[str, Any]]
    measured_ms: list[float]
    seed: int = 0
    validation: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))

    def save(self, path: str | os.PathLike[str]) -> Path:
        return atomic_write_json(path, {"format": TRANSFER_FORMAT, "version": 1, **self.__dict__})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TransferFile:
        source = Path(path)
        try:
            payload = safe_json.loads(source.read_bytes())
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"latency transfer file {source} is not readable JSON: {exc}") from None
        if not isinstance(payload, dict) or payload.get("format") != TRANSFER_FORMAT:
            raise CheckpointError(f"{source} is not a latency transfer file (format {TRANSFER_FORMAT!r})")
        try:
            return cls(**{k: payload[k] for k in cls.__dataclass_fields__ if k in payload})
        except TypeError as exc:
            raise CheckpointError(f"latency transfer file {source} is malformed: {exc}") from None


class TransferLatencyModel:
    """Predicts archs' latencies on a new device from its few measurements and the source devices' tables."""

    def __init__(self, measured: TransferFile, space: SearchSpace, sources: Sequence[LatencyTable] | None = None):
        if measured.space != space.name:
            raise ConfigError(
                f"latency transfer file is for space {measured.space!r}, not {space.name!r}",
                field="latency_table",
                value=measured.space,
            )
        tables = list(sources) if sources is not None else [LatencyTable.load(p, space.name) for p in measured.sources]
        if not tables:
            raise ConfigError("a latency transfer needs at least one source table", field="sources")
        self.space, self.measured = space, measured
        self.sources = [LatencyModel(table, space) for table in tables]
        archs = [space.validate(labels) for labels in measured.archs]
        pool = [*archs, *random_archs(space, POOL, measured.seed + 7919, exclude=archs)]
        self.transfer = FewShotLatencyTransfer().fit(
            self._source_rows(pool), np.arange(len(archs)), np.asarray(measured.measured_ms, dtype=np.float64)
        )

    def _source_rows(self, archs: Sequence[Arch]) -> np.ndarray:
        return np.column_stack([source.predict(archs) for source in self.sources])

    def predict(self, archs: Iterable[Arch]) -> np.ndarray:
        """Predicted milliseconds per arch on the new device."""
        archs = list(archs)
        return self.transfer.predict(self._source_rows(archs)) if archs else np.zeros(0)


def latency_predictor(path: str | os.PathLike[str], space_name: str | None = None) -> tuple[str, Any]:
    """The space and latency predictor (``predict(archs) -> ms``) of a latency table or a transfer file."""
    try:
        head = safe_json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        head = None
    if isinstance(head, dict) and head.get("format") == TRANSFER_FORMAT:
        measured = TransferFile.load(path)
        return measured.space, TransferLatencyModel(measured, get_space(space_name or measured.space))
    table = LatencyTable.load(path)
    return table.space, LatencyModel(table, get_space(space_name or table.space))
