"""Ridge regression on count-like columns, then LightGBM boosting its residual on every column (kind
``ridge_gbm``).

The ridge part ranks well from about ten training architectures (on NAS-Bench-201 the count columns are how many
edges hold each op, and how many of those lie on a live path); its strength is chosen by exact leave-one-out error.
The trees take over as data grows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predictors.base import Predictor, register_predictor
from predictors.gbm import booster_params, safe_model_text
from search_spaces.errors import ConfigError

__all__ = ["RIDGE_ALPHAS", "RidgeBoost", "count_columns"]

RIDGE_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 3, 12))


def count_columns(features: np.ndarray) -> list[int]:
    """Columns of an encoding matrix holding a value other than 0 and 1 (counts rather than one-hot flags)."""
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2:
        raise ConfigError(f"features must be a 2-d matrix, got shape {matrix.shape}", field="features")
    return [int(i) for i in np.flatnonzero(np.any((matrix != 0.0) & (matrix != 1.0), axis=0))]


def _ridge_loo(z: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> tuple[float, float, np.ndarray]:
    """Ridge on centred ``z`` and ``y`` (intercept unpenalized): the strength with the lowest exact leave-one-out
    squared error (ties go to the stronger one). Returns (alpha, intercept, coefficients)."""
    n = len(y)
    mean = float(y.mean())
    centred = y - mean
    u, s, vt = np.linalg.svd(z, full_matrices=False)
    projected = u.T @ centred
    best: tuple[float, float, np.ndarray] | None = None
    for alpha in sorted(alphas, reverse=True):
        shrink = s**2 / (s**2 + alpha)
        fitted = u @ (shrink * projected)
        leverage = (u**2) @ shrink + 1.0 / n
        residual = (centred - fitted) / np.maximum(1.0 - leverage, 1e-9)
        error = float(np.mean(residual**2))
        if best is None or error < best[0]:
            best = (error, alpha, vt.T @ (s / (s**2 + alpha) * projected))
    assert best is not None
    return best[1], mean, best[2]


@register_predictor
class RidgeBoost(Predictor):
    """Ridge regression on count-like columns, then LightGBM fitted to its residual on every column.

    Args:
        linear_columns: the columns the ridge part sees; ``None``: the training matrix's non-0/1 columns
            (:func:`count_columns`), or every column if there are none (a pure one-hot encoding).
        alphas: ridge strengths to choose from by leave-one-out error on the training rows.
        rounds, learning_rate, num_leaves, min_data_in_leaf: the boosting stage (one thread: the tables are small).
    """

    kind = "ridge_gbm"

    def __init__(
        self,
        feature_names: list[str] | None = None,
        target: str = "metric",
        seed: int = 0,
        linear_columns: Sequence[int] | None = None,
        alphas: Sequence[float] = RIDGE_ALPHAS,
        rounds: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 7,
        min_data_in_leaf: int = 3,
    ):
        super().__init__(feature_names, target, seed)
        self.linear_columns = None if linear_columns is None else [int(c) for c in linear_columns]
        self.alphas = tuple(float(a) for a in alphas)
        if not self.alphas or not all(math.isfinite(a) and a > 0 for a in self.alphas):
            raise ConfigError(
                f"alphas={list(alphas)!r}: need at least one finite ridge strength > 0",
                field="alphas",
                value=list(alphas),
                allowed="finite floats > 0",
            )
        self.rounds, self.learning_rate = int(rounds), float(learning_rate)
        self.num_leaves, self.min_data_in_leaf = int(num_leaves), int(min_data_in_leaf)
        self.booster: Any = None
        self.columns_: list[int] = []
        self.inputs_ = 0
        self.alpha_ = self.intercept_ = 0.0
        self.coef_ = self.mean_ = self.scale_ = np.zeros(0)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import lightgbm

        columns = self.linear_columns if self.linear_columns is not None else count_columns(x)
        columns = columns or list(range(x.shape[1]))
        bad = [c for c in columns if not 0 <= c < x.shape[1]]
        if bad:
            raise ConfigError(
                f"linear_columns holds {bad[0]}, outside the {x.shape[1]} feature columns",
                field="linear_columns",
                value=bad[0],
                allowed=f"0..{x.shape[1] - 1}",
            )
        self.columns_, self.inputs_ = list(columns), x.shape[1]
        part = x[:, self.columns_]
        self.mean_ = part.mean(axis=0)
        scale = part.std(axis=0)
        self.scale_ = np.where(scale > 1e-12, scale, 1.0)
        self.alpha_, self.intercept_, self.coef_ = _ridge_loo((part - self.mean_) / self.scale_, y, self.alphas)
        params = booster_params(self.learning_rate, self.num_leaves, self.min_data_in_leaf, self.seed, threads=1)
        data = lightgbm.Dataset(x, y, init_score=self._linear(x), params={"min_data_in_bin": 1, "verbosity": -1})
        self.booster = lightgbm.train(params, data, num_boost_round=self.rounds)

    def _linear(self, x: np.ndarray) -> np.ndarray:
        return self.intercept_ + ((x[:, self.columns_] - self.mean_) / self.scale_) @ self.coef_

    def _columns(self) -> int:
        return self.inputs_

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = self._linear(x) + np.asarray(self.booster.predict(x), dtype=np.float64)
        return mean, np.zeros_like(mean)

    def _settings(self) -> dict[str, Any]:
        return {
            "linear_columns": self.linear_columns,
            "alphas": list(self.alphas),
            "rounds": self.rounds,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "columns": self.columns_,
            "inputs": self.inputs_,
            "alpha": self.alpha_,
            "intercept": self.intercept_,
            "coef": self.coef_.tolist(),
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "model": self.booster.model_to_string(),
        }

    def _restore(self, settings: dict[str, Any], folder: Path) -> None:
        import lightgbm

        self.linear_columns = settings["linear_columns"]
        self.alphas = tuple(settings["alphas"])
        self.rounds, self.learning_rate = int(settings["rounds"]), float(settings["learning_rate"])
        self.num_leaves, self.min_data_in_leaf = int(settings["num_leaves"]), int(settings["min_data_in_leaf"])
        self.columns_, self.inputs_ = [int(c) for c in settings["columns"]], int(settings["inputs"])
        self.alpha_, self.intercept_ = float(settings["alpha"]), float(settings["intercept"])
        self.coef_, self.mean_ = np.asarray(settings["coef"], float), np.asarray(settings["mean"], float)
        self.scale_ = np.asarray(settings["scale"], float)
        if self.feature_names is not None and len(self.feature_names) != self.inputs_:
            raise ValueError(f"inputs={self.inputs_} but feature_names lists {len(self.feature_names)}")
        sizes = (len(self.coef_), len(self.mean_), len(self.scale_))
        if (
            len(set(sizes)) != 1
            or sizes[0] != len(self.columns_)
            or not all(0 <= c < self.inputs_ for c in self.columns_)
        ):
            raise ValueError(
                f"linear part: {len(self.columns_)} columns of {self.inputs_} inputs but arrays of {sizes}"
            )
        if not all(np.all(np.isfinite(a)) for a in (self.coef_, self.mean_, self.scale_)) or np.any(self.scale_ <= 0):
            raise ValueError("linear part holds non-finite coefficients or non-positive scales")
        model, features = safe_model_text(settings["model"])
        if features != self.inputs_:
            raise ValueError(f"the LightGBM part reads {features} features, not the {self.inputs_} inputs")
        try:
            self.booster = lightgbm.Booster(model_str=model)
        except lightgbm.basic.LightGBMError as exc:
            raise ValueError(f"LightGBM model text is malformed ({str(exc)[:200]})") from None
