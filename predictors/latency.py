"""Latency tables: the measured time of every distinct part (layer or block at an input size) a space can produce on
one device, and the prediction of a whole network from them.

A network's predicted latency is the sum of its parts' medians, passed through a correction fitted on a few dozen
end-to-end measurements: per-part sums miss what happens between parts (operator fusion, cache reuse, kernel launch
and framework overhead), which on GPUs makes raw sums 20-30% too high. The correction is affine in the raw sum,
fitted to minimise relative error (the quantity MAPE reports).

Tables are JSON files with a format name and version; loading checks both and names what is wrong.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import safe_json
from search_spaces.atomic import atomic_write_json
from search_spaces.errors import CheckpointError, ConfigError, DataError, short_repr

__all__ = ["TABLE_FORMAT", "TABLE_VERSION", "LatencyCorrection", "LatencyTable"]

TABLE_FORMAT = "nas-latency-table"
TABLE_VERSION = 1


@dataclass(frozen=True)
class LatencyCorrection:
    """``measured ≈ scale * raw_sum + offset``, fitted on end-to-end measurements to minimise relative error.

    When the two-term fit is not sane (a non-positive scale, or a non-positive prediction for the smallest net, as
    noisy or very few measurements can give), the correction falls back to the median measured/raw ratio.
    """

    scale: float
    offset_ms: float
    samples: int
    fit_mape: float

    def apply(self, raw_ms: np.ndarray | float) -> np.ndarray | float:
        return self.scale * raw_ms + self.offset_ms

    @classmethod
    def fit(cls, raw_ms: Sequence[float], measured_ms: Sequence[float], raw_floor: float = 0.0) -> LatencyCorrection:
        """Fit on at least 4 measurements of positive latency; ``raw_floor`` is the smallest raw sum the table can
        give (the space's smallest network), where the correction must stay positive too."""
        raw, measured = np.asarray(raw_ms, dtype=np.float64), np.asarray(measured_ms, dtype=np.float64)
        if len(raw) != len(measured):
            raise ConfigError("raw sums and measurements must have the same length", field="measured")
        if len(measured) < 4:
            raise ConfigError(
                f"calibration={len(measured)}: a correction needs >= 4 end-to-end measurements",
                field="calibration",
                value=len(measured),
            )
        if not np.all(np.isfinite(measured)) or np.any(measured <= 0) or np.any(raw <= 0):
            raise ConfigError("end-to-end latencies and table sums must be finite and positive", field="measured")
        design = np.stack([raw, np.ones_like(raw)], axis=1) / measured[:, None]
        (scale, offset), *_ = np.linalg.lstsq(design, np.ones_like(raw), rcond=None)
        lowest = min(float(raw.min()), raw_floor) if raw_floor > 0 else float(raw.min())
        if scale <= 0 or scale * lowest + offset <= 0:
            scale, offset = float(np.median(measured / raw)), 0.0
        predicted = scale * raw + offset
        return cls(float(scale), float(offset), len(raw), float(np.mean(np.abs(predicted - measured) / measured)))


@dataclass
class LatencyTable:
    """Per-part timings of one space on one device at one batch size (see the module docstring)."""

    space: str
    device: str
    batch: int
    num_classes: int
    machine: dict[str, Any]
    entries: dict[str, dict[str, float]] = field(default_factory=dict)
    correction: LatencyCorrection | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))

    def raw_ms(self, keys: Sequence[str]) -> float:
        """Sum of the parts' median times."""
        total = 0.0
        for key in keys:
            entry = self.entries.get(key)
            if entry is None:
                raise DataError(
                    f"latency table for {self.space!r} on {self.device} (batch {self.batch}) has no entry for part "
                    f"{key!r}; it was profiled for another space, class count or resolution range: run `nas profile`"
                )
            total += entry["median_ms"]
        return total

    def predict_ms(self, keys: Sequence[str]) -> float:
        """Predicted end-to-end latency of a network made of ``keys`` (corrected when a correction is fitted)."""
        raw = self.raw_ms(keys)
        return float(self.correction.apply(raw)) if self.correction else raw

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TABLE_FORMAT,
            "version": TABLE_VERSION,
            "space": self.space,
            "device": self.device,
            "batch": self.batch,
            "num_classes": self.num_classes,
            "created": self.created,
            "machine": self.machine,
            "correction": None if self.correction is None else self.correction.__dict__,
            "entries": self.entries,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically as JSON."""
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str], space: str | None = None) -> LatencyTable:
        """Read a table, checking its format, version and (if given) space."""
        source = Path(path)
        try:
            payload = safe_json.loads(source.read_bytes())
        except FileNotFoundError:
            raise DataError(f"latency table {source} does not exist") from None
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise CheckpointError(f"latency table {source} is not readable JSON: {reason}") from None
        if not isinstance(payload, Mapping) or payload.get("format") != TABLE_FORMAT:
            raise CheckpointError(f"{source} is not a latency table (format must be {TABLE_FORMAT!r})")
        if payload.get("version") != TABLE_VERSION:
            raise CheckpointError(
                f"latency table {source} has version {short_repr(payload.get('version'))}; this release reads "
                f"{TABLE_VERSION}"
            )
        if space is not None and payload.get("space") != space:
            raise CheckpointError(
                f"latency table {source} is for space {short_repr(payload.get('space'))}, not {space!r}"
            )
        try:
            entries = payload["entries"]
            if not isinstance(entries, Mapping):
                raise ValueError(f"entries must be an object of parts, got {type(entries).__name__}")
            correction = payload.get("correction")
            table = cls(
                space=_text(payload, "space"),
                device=_text(payload, "device"),
                batch=_count(payload, "batch", 1),
                num_classes=_count(payload, "num_classes", 1),
                machine=_object(payload.get("machine") or {}, "machine"),
                entries={str(k): _entry(k, v) for k, v in entries.items()},
                correction=None if correction is None else _correction(correction),
                created=str(payload.get("created", "")),
            )
        except KeyError as exc:
            raise CheckpointError(f"latency table {source} is malformed: missing field {exc}") from None
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"latency table {source} is malformed: {exc}") from None
        return table


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}={short_repr(value)} must be a non-empty string")
    return value


def _count(payload: Mapping[str, Any], name: str, minimum: int) -> int:
    value = payload[name]
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name}={short_repr(value)} must be an integer >= {minimum}")
    return value


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be an object, got {type(value).__name__}")
    return dict(value)


def _number(value: Any, name: str, minimum: float = -math.inf) -> float:
    """A finite number >= ``minimum`` (not a bool or a numeric string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        bound = "" if minimum == -math.inf else f" >= {minimum:g}"
        raise ValueError(f"{name}={short_repr(value)} must be a finite number{bound}")
    return float(value)


def _correction(value: Any) -> LatencyCorrection:
    fields = _object(value, "correction")
    names = ("scale", "offset_ms", "samples", "fit_mape")
    missing = [name for name in names if name not in fields]
    if missing or len(fields) != len(names):
        raise ValueError(f"correction must hold exactly {', '.join(names)}; got {', '.join(map(str, fields))}")
    scale = _number(fields["scale"], "correction.scale")
    if not scale > 0:
        raise ValueError(f"correction.scale={scale:g} must be > 0")
    samples = fields["samples"]
    if type(samples) is not int or samples < 0:
        raise ValueError(f"correction.samples={short_repr(samples)} must be an integer >= 0")
    offset = _number(fields["offset_ms"], "correction.offset_ms")
    return LatencyCorrection(scale, offset, samples, _number(fields["fit_mape"], "correction.fit_mape", 0.0))


def _entry(key: Any, value: Any) -> dict[str, float]:
    entry = _object(value, f"entry {short_repr(key)}")
    where = f"entry {short_repr(key)}: "
    median = _number(entry.get("median_ms"), where + "median_ms", 0.0)
    iqr = _number(entry.get("iqr_ms", 0.0), where + "iqr_ms", 0.0)
    repeats = entry.get("repeats", 0)
    if type(repeats) is not int or repeats < 0:
        raise ValueError(f"{where}repeats={short_repr(repeats)} must be an integer >= 0")
    return {"median_ms": median, "iqr_ms": iqr, "repeats": repeats}
