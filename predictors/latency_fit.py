"""The model from a latency table's per-part figures to a whole network's latency, fitted on end-to-end
measurements of a few dozen networks.

A sum of per-part medians misses what happens between parts: each part was timed alone (its own call overhead,
its input warm in cache), while a network runs them back to back, and at batch 1 per-layer overhead dominates
small networks. So the fit works on a few features of a network, each a sum over its parts: ``raw_ms`` (the
per-part medians), ``parts`` (how many), ``ops`` (aten operations, about one kernel launch each) and
``activations_m`` (millions of elements their outputs hold), plus a constant. Candidates, from the raw sum itself
to a linear model on all of them, are each fitted to minimise relative error (the quantity MAPE reports) and
scored by leave-one-out error on the calibration networks. A candidate that flattens the predictions (their spread
far below the measurements') or predicts a non-positive latency is refused. Of the rest and the raw sum itself, the
simplest whose held-out error is within one standard error of the best one's is kept (the one-standard-error
rule: a richer model must earn its parameters; a table profiled on a busy machine chose a 3-parameter model 0.8
points better than the raw sum on its calibration networks, and it was 3 points worse on fresh ones). When that is
the raw sum, the fit says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from predictors.metrics import mape
from search_spaces.checks import require
from search_spaces.errors import ConfigError

__all__ = ["CANDIDATES", "FEATURES", "LatencyFit"]

FEATURES = ("raw_ms", "parts", "ops", "activations_m", "one")
"""The columns of a network's feature row, in order."""

CANDIDATES: dict[str, tuple[str, ...]] = {
    "scale": ("raw_ms",),
    "affine": ("raw_ms", "one"),
    "parts": ("raw_ms", "parts", "one"),
    "ops": ("raw_ms", "ops", "one"),
    "full": ("raw_ms", "parts", "ops", "activations_m", "one"),
}
"""The fitted models tried besides the raw sum: the features each uses."""

RAW_SUM = tuple(1.0 if name == "raw_ms" else 0.0 for name in FEATURES)
"""The coefficients of the raw per-part sum."""

MIN_SPREAD = 0.5
"""A fit whose predictions vary less than this share of the measurements' relative spread flattens them."""


@dataclass(frozen=True)
class LatencyFit:
    """``predicted = features @ coefficients`` (see :data:`FEATURES`).

    Attributes:
        method: ``raw`` (the per-part sum as it is) or a key of :data:`CANDIDATES`.
        coefficients: one per feature of :data:`FEATURES` (zero for the features the method does not use).
        samples: end-to-end measurements it was fitted on.
        fit_mape: its mean absolute percentage error on them.
        cv_mape: its leave-one-out error on them (the raw sum's own error for ``raw``).
        candidates: every candidate's leave-one-out error (NaN where it could not be fitted or was refused).
        note: why this method (a fallback to the raw sum says so).
    """

    method: str
    coefficients: tuple[float, ...]
    samples: int
    fit_mape: float
    cv_mape: float
    candidates: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def affine(cls, scale: float, offset_ms: float, samples: int = 0, fit_mape: float = float("nan")) -> LatencyFit:
        """``scale * raw_ms + offset_ms`` (the correction of version-1 tables)."""
        return cls("affine", (scale, 0.0, 0.0, 0.0, offset_ms), samples, fit_mape, float("nan"))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted milliseconds for rows of :data:`FEATURES` (vectorized: microseconds for thousands of rows)."""
        return np.asarray(features, dtype=np.float64) @ np.asarray(self.coefficients, dtype=np.float64)

    @classmethod
    def fit(cls, features: np.ndarray, measured_ms: Sequence[float], floor: np.ndarray | None = None) -> LatencyFit:
        """Choose and fit the model on networks' feature rows and their measured latencies.

        Args:
            features: one row of :data:`FEATURES` per measured network.
            measured_ms: their end-to-end medians.
            floor: feature rows where the model must stay positive too (e.g. the space's smallest network).
        """
        x = np.asarray(features, dtype=np.float64)
        y = np.asarray(measured_ms, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(FEATURES) or len(x) != len(y):
            raise ConfigError(
                f"features must be one row of {len(FEATURES)} per measurement, got shape {x.shape} for {len(y)}",
                field="features",
            )
        require(len(y) >= 4, "calibration", len(y), ">= 4 end-to-end measurements for a latency model")
        if not np.all(np.isfinite(y)) or np.any(y <= 0) or not np.all(np.isfinite(x)) or np.any(x[:, 0] <= 0):
            raise ConfigError("end-to-end latencies and table sums must be finite and positive", field="measured")
        checks = x if floor is None else np.vstack([x, np.atleast_2d(floor)])
        errors: dict[str, np.ndarray] = {"raw": np.abs(x[:, 0] - y) / y}
        scores: dict[str, float] = {}
        fits: dict[str, np.ndarray] = {"raw": np.array(RAW_SUM)}
        for name, used in CANDIDATES.items():
            columns = [FEATURES.index(f) for f in used]
            scores[name] = float("nan")
            if len(y) < len(columns) + 3 or np.linalg.matrix_rank(x[:, columns]) < len(columns):
                continue
            coefficients, held_out = _relative_least_squares(x[:, columns], y)
            full = np.zeros(len(FEATURES))
            full[columns] = coefficients
            if np.any(checks @ full <= 0) or _spread(x @ full) < MIN_SPREAD * _spread(y):
                continue
            scores[name], fits[name], errors[name] = float(np.mean(held_out)), full, held_out
        raw_mape = float(np.mean(errors["raw"]))
        fitted = [name for name in CANDIDATES if name in fits]
        if not fitted:
            return cls._fallback(raw_mape, len(y), scores, "no candidate could be fitted without flattening the "
                                 "predictions or predicting a non-positive latency")  # fmt: skip
        held_out_mape = {name: float(np.mean(errors[name])) for name in ("raw", *fitted)}
        best = min(held_out_mape, key=held_out_mape.__getitem__)
        standard_error = float(np.std(errors[best], ddof=1) / np.sqrt(len(y)))
        chosen = next(name for name in ("raw", *fitted) if held_out_mape[name] <= held_out_mape[best] + standard_error)
        top = min(fitted, key=held_out_mape.__getitem__)
        if chosen == "raw":
            reason = (
                f"the best fitted model ({top}, held-out MAPE {held_out_mape[top]:.1%}) does no better than the raw "
                f"sum ({raw_mape:.1%})"
                if best == "raw"
                else f"the best fitted model ({top}, held-out MAPE {held_out_mape[top]:.1%}) is within one standard "
                f"error ({standard_error:.1%}) of the raw sum's {raw_mape:.1%}"
            )
            return cls._fallback(raw_mape, len(y), scores, reason)
        note = f"{chosen}: held-out MAPE {held_out_mape[chosen]:.1%} against the raw sum's {raw_mape:.1%}"
        if chosen != top:
            note += f" (simplest within one standard error of {top}'s {held_out_mape[top]:.1%})"
        predicted = x @ fits[chosen]
        coefficients = tuple(float(c) for c in fits[chosen])
        return cls(chosen, coefficients, len(y), mape(y, predicted), held_out_mape[chosen], scores, note)

    @classmethod
    def _fallback(cls, raw_mape: float, samples: int, scores: Mapping[str, float], reason: str) -> LatencyFit:
        note = f"fell back to the raw per-part sum: {reason}"
        return cls("raw", RAW_SUM, samples, raw_mape, raw_mape, dict(scores), note)


def _relative_least_squares(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients minimising the squared relative error, and each network's leave-one-out absolute relative
    error (exact, from the hat matrix of the scaled problem)."""
    design = x / y[:, None]
    coefficients, *_ = np.linalg.lstsq(design, np.ones(len(y)), rcond=None)
    residuals = 1.0 - design @ coefficients
    leverage = np.einsum("ij,ji->i", design, np.linalg.pinv(design))
    held_out = residuals / np.clip(1.0 - leverage, 1e-9, None)
    return coefficients, np.abs(held_out)


def _spread(values: np.ndarray) -> float:
    """Relative spread: standard deviation over mean."""
    return float(np.std(values) / np.mean(values)) if np.mean(values) > 0 else 0.0
