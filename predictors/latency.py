"""Latency tables: the measured time of every distinct part (layer or block at an input size) a space can produce on
one device, and the prediction of a whole network from them.

A network's predicted latency comes from its parts' figures through a model fitted on a few dozen end-to-end
measurements (:class:`~predictors.latency_fit.LatencyFit`: per-part sums miss what happens between parts). A
table also keeps how it was validated: the prediction error on networks the fit never saw beside the noise floor,
the disagreement of two rounds of measurements of those same networks.

Tables are JSON files with a format name and version; loading checks both and names what is wrong. Version-1
tables (an affine correction, no validation) still load.
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

from predictors.latency_fit import CANDIDATES, FEATURES, LatencyFit
from search_spaces import safe_json
from search_spaces.atomic import atomic_write_json
from search_spaces.errors import CheckpointError, DataError, short_repr

__all__ = ["TABLE_FORMAT", "TABLE_VERSION", "LatencyFit", "LatencyTable"]

TABLE_FORMAT = "nas-latency-table"
TABLE_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass
class LatencyTable:
    """Per-part timings of one space on one device at one batch size (see the module docstring)."""

    space: str
    device: str
    batch: int
    num_classes: int
    machine: dict[str, Any]
    entries: dict[str, dict[str, float]] = field(default_factory=dict)
    model: LatencyFit | None = None
    validation: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))

    def features(self, keys: Sequence[str]) -> np.ndarray:
        """The feature row (:data:`~predictors.latency_fit.FEATURES`) of a network made of the parts ``keys``."""
        raw = ops = activations = 0.0
        for key in keys:
            entry = self.entries.get(key)
            if entry is None:
                raise DataError(
                    f"latency table for {self.space!r} on {self.device} (batch {self.batch}) has no entry for part "
                    f"{key!r}; it was profiled for another space, class count or resolution range: run `nas profile`"
                )
            raw += entry["median_ms"]
            ops += entry.get("ops", 0.0)
            activations += entry.get("activations", 0.0)
        return np.array([raw, len(keys), ops, activations / 1e6, 1.0])

    @property
    def reference_ms(self) -> float | None:
        """The reference module's time during profiling (the machine speed every timing is expressed at), or None
        for a table profiled without one."""
        reference = self.machine.get("reference")
        return float(reference["ms"]) if isinstance(reference, Mapping) and reference.get("ms") else None

    def raw_ms(self, keys: Sequence[str]) -> float:
        """Sum of the parts' median times."""
        return float(self.features(keys)[0])

    def predict_ms(self, keys: Sequence[str]) -> float:
        """Predicted end-to-end latency of a network made of ``keys`` (the raw sum when no model is fitted)."""
        row = self.features(keys)
        return float(self.model.predict(row[None])[0]) if self.model else float(row[0])

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
            "model": None if self.model is None else _model_dict(self.model),
            "validation": self.validation,
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
        version = payload.get("version")
        if version not in READABLE_VERSIONS:
            raise CheckpointError(
                f"latency table {source} has version {short_repr(version)}; this release reads "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        if space is not None and payload.get("space") != space:
            raise CheckpointError(
                f"latency table {source} is for space {short_repr(payload.get('space'))}, not {space!r}"
            )
        try:
            entries = payload["entries"]
            if not isinstance(entries, Mapping):
                raise ValueError(f"entries must be an object of parts, got {type(entries).__name__}")
            if version == 1:
                correction = payload.get("correction")
                model = None if correction is None else _correction(correction)
            else:
                model = None if payload.get("model") is None else _model(payload["model"])
            validation = payload.get("validation")
            table = cls(
                space=_text(payload, "space"),
                device=_text(payload, "device"),
                batch=_count(payload, "batch", 1),
                num_classes=_count(payload, "num_classes", 1),
                machine=_machine(payload.get("machine") or {}),
                entries={str(k): _entry(k, v) for k, v in entries.items()},
                model=model,
                validation=None if validation is None else _object(validation, "validation"),
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


def _machine(value: Any) -> dict[str, Any]:
    machine = _object(value, "machine")
    if "reference" in machine:
        reference = _object(machine["reference"], "machine.reference")
        _number(reference.get("ms"), "machine.reference.ms", 1e-9)
    return machine


def _count(payload: Mapping[str, Any], name: str, minimum: int) -> int:
    return _integer(payload[name], name, minimum)


def _integer(value: Any, name: str, minimum: int = 0) -> int:
    """An integer >= ``minimum`` (not a bool or a float)."""
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


def _correction(value: Any) -> LatencyFit:
    """A version-1 table's affine correction, as the model it is."""
    fields = _object(value, "correction")
    names = ("scale", "offset_ms", "samples", "fit_mape")
    missing = [name for name in names if name not in fields]
    if missing or len(fields) != len(names):
        raise ValueError(f"correction must hold exactly {', '.join(names)}; got {', '.join(map(str, fields))}")
    scale = _number(fields["scale"], "correction.scale")
    if not scale > 0:
        raise ValueError(f"correction.scale={scale:g} must be > 0")
    samples = _integer(fields["samples"], "correction.samples")
    offset = _number(fields["offset_ms"], "correction.offset_ms")
    return LatencyFit.affine(scale, offset, samples, _number(fields["fit_mape"], "correction.fit_mape", 0.0))


_MODEL_FIELDS = ("method", "features", "coefficients", "samples", "fit_mape", "cv_mape", "candidates", "note")


def _model_dict(model: LatencyFit) -> dict[str, Any]:
    return {
        "method": model.method,
        "features": list(FEATURES),
        "coefficients": list(model.coefficients),
        "samples": model.samples,
        "fit_mape": _finite_or_none(model.fit_mape),
        "cv_mape": _finite_or_none(model.cv_mape),
        "candidates": {name: _finite_or_none(score) for name, score in model.candidates.items()},
        "note": model.note,
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _model(value: Any) -> LatencyFit:
    fields = _object(value, "model")
    if set(fields) != set(_MODEL_FIELDS):
        raise ValueError(f"model must hold exactly {', '.join(_MODEL_FIELDS)}; got {', '.join(map(str, fields))}")
    method = fields["method"]
    if method not in ("raw", *CANDIDATES):
        raise ValueError(f"model.method={short_repr(method)} must be one of raw, {', '.join(CANDIDATES)}")
    if fields["features"] != list(FEATURES):
        raise ValueError(f"model.features={short_repr(fields['features'])} must be {list(FEATURES)}")
    coefficients = fields["coefficients"]
    if not isinstance(coefficients, list) or len(coefficients) != len(FEATURES):
        raise ValueError(f"model.coefficients must be a list of {len(FEATURES)} numbers")
    samples = _integer(fields["samples"], "model.samples")
    candidates = _object(fields["candidates"], "model.candidates")
    if not isinstance(fields["note"], str):
        raise ValueError("model.note must be a string")
    return LatencyFit(
        str(method),
        tuple(_number(c, f"model.coefficients[{i}]") for i, c in enumerate(coefficients)),
        samples,
        _optional_number(fields["fit_mape"], "model.fit_mape"),
        _optional_number(fields["cv_mape"], "model.cv_mape"),
        {str(name): _optional_number(score, f"model.candidates.{name}") for name, score in candidates.items()},
        fields["note"],
    )


def _optional_number(value: Any, name: str) -> float:
    """A finite number >= 0, or null for one that could not be computed (NaN)."""
    return float("nan") if value is None else _number(value, name, 0.0)


_ENTRY_COUNTS = ("repeats", "rounds", "remeasured", "macs", "ops", "activations")


def _entry(key: Any, value: Any) -> dict[str, float]:
    """A part's timing (median, IQR, how many samples over how many rounds, the rounds' spread, re-measurements)
    and its static figures (MACs, aten ops, output elements); only ``median_ms`` is required."""
    entry = _object(value, f"entry {short_repr(key)}")
    where = f"entry {short_repr(key)}: "
    checked: dict[str, float] = {
        "median_ms": _number(entry.get("median_ms"), where + "median_ms", 0.0),
        "iqr_ms": _number(entry.get("iqr_ms", 0.0), where + "iqr_ms", 0.0),
    }
    if "spread" in entry:
        checked["spread"] = _number(entry["spread"], where + "spread", 0.0)
    for name in _ENTRY_COUNTS:
        count = _integer(entry.get(name, 0), where + name)
        if name in entry or name == "repeats":
            checked[name] = count
    return checked
