"""Few-shot latency transfer: predict every architecture's latency on a new device from a handful of measurements.

Inputs are generic: a matrix of latencies of N architectures on S known (source) devices, optionally a matrix of
cheap architecture features (resolution, depth, log MACs, ...), and K measured architectures on the new (target)
device. The model works in log-latency, where devices differ mostly by a scale and a mix of "launch-bound" and
"compute-bound" behaviour:

* K >= ``min_ridge_k``: ridge regression of the target's log latency on the standardized log latencies of the
  sources plus the features (intercept unpenalized), the ridge strength chosen among ``alphas`` by closed-form
  leave-one-out error on the K points (ties go to the stronger penalty);
* fewer points: the single source whose log-latency offset to the target is the most constant over the K points,
  scaled by the mean ratio (``target_ms ~ c * source_ms``, an affine fit in log space with unit slope).

Standardization uses all N rows (the sources are known for every architecture), so the fit is deterministic and
needs no random state. :func:`leave_one_out_transfer` measures the method by holding out each column in turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from predictors.metrics import kendall_tau, mape, spearman
from search_spaces.errors import ConfigError

__all__ = ["DEFAULT_ALPHAS", "FewShotLatencyTransfer", "leave_one_out_transfer", "sample_measured"]

DEFAULT_ALPHAS: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0)


def _latency_matrix(value: Any, field: str) -> np.ndarray:
    """A 2-d float matrix of finite, positive latencies (ms)."""
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 1:
        raise ConfigError(
            f"{field} must be a 2-d matrix (archs x devices) with >= 2 rows and >= 1 column, got shape {matrix.shape}",
            field=field,
            value=matrix.shape,
            allowed="shape (N >= 2, S >= 1)",
        )
    _check_positive(matrix, field)
    return matrix


def _check_positive(values: np.ndarray, field: str) -> None:
    bad = ~np.isfinite(values) | (values <= 0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ConfigError(
            f"{field} holds {values[where]!r} at {where}; latencies must be finite and > 0 ms",
            field=field,
            value=float(values[where]),
            allowed="finite values > 0",
        )


def _feature_matrix(value: Any, rows: int, field: str = "features") -> np.ndarray:
    matrix = np.asarray(value, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise ConfigError(
            f"{field} must be a matrix with one row per arch ({rows}), got shape {matrix.shape}",
            field=field,
            value=matrix.shape,
            allowed=f"shape ({rows}, F)",
        )
    if not np.all(np.isfinite(matrix)):
        raise ConfigError(f"{field} contain NaN or infinite values", field=field, value="non-finite", allowed="finite")
    return matrix


def sample_measured(n: int, k: int, seed: int) -> np.ndarray:
    """The K distinct arch indices (sorted) that seed ``seed`` measures on a target device out of ``n``."""
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))


class FewShotLatencyTransfer:
    """Predict a new device's latency for N archs from their latencies on S source devices and K measurements.

    After :meth:`fit`, ``method_`` is ``"ridge"`` or ``"scale"``; ``alpha_`` the chosen ridge strength (ridge);
    ``source_column_`` the chosen source (scale); ``loo_rmse_`` the leave-one-out RMSE in log-latency (``nan``
    when it cannot be computed, K = 2 with the scale fallback).
    """

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS, min_ridge_k: int = 6):
        grid = np.asarray(alphas, dtype=np.float64).reshape(-1)
        if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
            raise ConfigError(
                f"alphas={list(alphas)!r}: need at least one finite ridge strength > 0",
                field="alphas",
                value=list(alphas),
                allowed="non-empty sequence of finite floats > 0",
            )
        if isinstance(min_ridge_k, bool) or not isinstance(min_ridge_k, int | np.integer) or min_ridge_k < 3:
            raise ConfigError(
                f"min_ridge_k={min_ridge_k!r}: the ridge fit needs an integer >= 3 measured archs",
                field="min_ridge_k",
                value=min_ridge_k,
                allowed="integer >= 3",
            )
        self.alphas = tuple(sorted(float(a) for a in grid))
        self.min_ridge_k = int(min_ridge_k)
        self.method_: str | None = None
        self.alpha_: float | None = None
        self.source_column_: int | None = None
        self.loo_rmse_: float = float("nan")

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        source: np.ndarray,
        target_index: np.ndarray,
        target_ms: np.ndarray,
        features: np.ndarray | None = None,
    ) -> FewShotLatencyTransfer:
        """Fit on ``source`` (N x S ms), the measured rows ``target_index`` (K ints) and their ``target_ms`` (K).

        ``features`` (N x F, optional) are cheap arch descriptors, standardized like the log sources; pass log
        MACs rather than MACs. Returns self.
        """
        matrix = _latency_matrix(source, "source")
        n = matrix.shape[0]
        index = self._check_index(target_index, n)
        measured = np.asarray(target_ms, dtype=np.float64)
        if measured.ndim != 1 or measured.shape[0] != index.shape[0]:
            raise ConfigError(
                f"target_ms has shape {measured.shape}; need one latency per target_index entry ({len(index)})",
                field="target_ms",
                value=measured.shape,
                allowed=f"shape ({len(index)},)",
            )
        _check_positive(measured, "target_ms")
        extra = _feature_matrix(features, n) if features is not None else None

        self._n_sources = matrix.shape[1]
        self._n_features = None if extra is None else extra.shape[1]
        design = self._raw_design(matrix, extra)
        self._mean = design.mean(axis=0)
        scale = design.std(axis=0)
        self._scale = np.where(scale > 1e-12, scale, 1.0)
        y = np.log(measured)
        if len(index) >= self.min_ridge_k:
            self._fit_ridge(self._standardize(design)[index], y)
        else:
            self._fit_scale(np.log(matrix[index]), y)
        self._fitted_prediction = self._predict_design(design)
        return self

    @staticmethod
    def _check_index(value: Any, n: int) -> np.ndarray:
        index = np.asarray(value)
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
            raise ConfigError(
                f"target_index must be a 1-d array of integers, got dtype {index.dtype} and shape {index.shape}",
                field="target_index",
                value=index.shape,
                allowed="1-d integer array",
            )
        if len(index) < 2:
            raise ConfigError(
                f"target_index has {len(index)} entries; need at least 2 measured archs on the target device",
                field="target_index",
                value=len(index),
                allowed=">= 2 entries",
            )
        out = (index < 0) | (index >= n)
        if out.any():
            raise ConfigError(
                f"target_index holds {int(index[out][0])}, outside the {n} archs of source",
                field="target_index",
                value=int(index[out][0]),
                allowed=f"0 <= index < {n}",
            )
        unique, counts = np.unique(index, return_counts=True)
        if (counts > 1).any():
            raise ConfigError(
                f"target_index holds {int(unique[counts > 1][0])} more than once; each arch may be measured once",
                field="target_index",
                value=int(unique[counts > 1][0]),
                allowed="distinct indices",
            )
        return index.astype(np.int64)

    def _raw_design(self, source: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        logs = np.log(source)
        return logs if features is None else np.concatenate([logs, features], axis=1)

    def _standardize(self, design: np.ndarray) -> np.ndarray:
        return (design - self._mean) / self._scale

    def _fit_ridge(self, z: np.ndarray, y: np.ndarray) -> None:
        """Ridge with an unpenalized intercept; alpha by closed-form leave-one-out error."""
        x = np.concatenate([np.ones((len(y), 1)), z], axis=1)
        penalty = np.eye(x.shape[1])
        penalty[0, 0] = 0.0
        best: tuple[float, float, np.ndarray] | None = None
        for alpha in reversed(self.alphas):  # strongest first: ties keep the stronger penalty
            solve = np.linalg.solve(x.T @ x + alpha * penalty, x.T)
            weights = solve @ y
            leverage = np.einsum("ij,ji->i", x, solve)
            residual = (y - x @ weights) / np.maximum(1.0 - leverage, 1e-12)
            error = float(np.mean(residual**2))
            if best is None or error < best[0]:
                best = (error, alpha, weights)
        assert best is not None
        self.method_, self.alpha_, self.source_column_ = "ridge", best[1], None
        self.loo_rmse_ = float(np.sqrt(best[0]))
        self._intercept, self._coef = float(best[2][0]), best[2][1:]

    def _fit_scale(self, log_source: np.ndarray, y: np.ndarray) -> None:
        """The source whose log ratio to the target varies least; prediction = source x mean ratio."""
        offsets = y[:, None] - log_source
        column = int(np.argmin(offsets.var(axis=0)))
        k = len(y)
        loo = (offsets[:, column] - offsets[:, column].mean()) * k / (k - 1)
        self.method_, self.alpha_, self.source_column_ = "scale", None, column
        self.loo_rmse_ = float(np.sqrt(np.mean(loo**2))) if k > 2 else float("nan")
        self._offset = float(offsets[:, column].mean())

    # ------------------------------------------------------------------ prediction
    def predict(self, source: np.ndarray | None = None, features: np.ndarray | None = None) -> np.ndarray:
        """Predicted target latency (ms): for the N fitted archs, or for new archs given their source rows.

        The measured archs get the model's value, not their measurement.
        """
        if self.method_ is None:
            raise ConfigError("FewShotLatencyTransfer is not fitted yet; call fit first", field="predictor")
        if source is None:
            if features is not None:
                raise ConfigError(
                    "features for new archs need their source rows too", field="source", value=None, allowed="matrix"
                )
            return self._fitted_prediction.copy()
        matrix = np.asarray(source, dtype=np.float64)
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        if matrix.ndim != 2 or matrix.shape[1] != self._n_sources:
            raise ConfigError(
                f"source rows must have {self._n_sources} columns (the fitted sources), got shape {matrix.shape}",
                field="source",
                value=matrix.shape,
                allowed=f"shape (M, {self._n_sources})",
            )
        _check_positive(matrix, "source")
        if (features is None) != (self._n_features is None):
            raise ConfigError(
                "features must be given exactly when the model was fitted with features",
                field="features",
                value=None if features is None else "matrix",
                allowed="matrix" if self._n_features is not None else None,
            )
        extra = None
        if features is not None:
            extra = _feature_matrix(features, matrix.shape[0])
            if extra.shape[1] != self._n_features:
                raise ConfigError(
                    f"features have {extra.shape[1]} columns; the model was fitted with {self._n_features}",
                    field="features",
                    value=extra.shape[1],
                    allowed=self._n_features,
                )
        return self._predict_design(self._raw_design(matrix, extra))

    def _predict_design(self, design: np.ndarray) -> np.ndarray:
        if self.method_ == "ridge":
            log_ms = self._intercept + self._standardize(design) @ self._coef
        else:
            log_ms = design[:, self.source_column_] + self._offset
        return np.exp(log_ms)


def leave_one_out_transfer(
    matrix: np.ndarray,
    columns: list[str],
    k: int,
    seeds: int,
    features: np.ndarray | None = None,
    exclude_groups: Mapping[str, Sequence[str]] | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
) -> list[dict[str, Any]]:
    """Hold out each column as the new device: measure K archs (seeds 0..seeds-1, see :func:`sample_measured`),
    fit on the other columns (minus the held-out column's ``exclude_groups`` entry) and score the N - K others.

    Returns rows ``{column, k, seed, spearman, kendall_tau, mape, method, sources}``; ``mape`` is a fraction.
    """
    data = _latency_matrix(matrix, "matrix")
    n, width = data.shape
    names = [str(c) for c in columns]
    if len(names) != width or len(set(names)) != width:
        raise ConfigError(
            f"columns must name each of the {width} matrix columns once, got {len(names)} names "
            f"({len(set(names))} distinct)",
            field="columns",
            value=names,
            allowed=f"{width} distinct names",
        )
    if width < 2:
        raise ConfigError("need at least 2 device columns to hold one out", field="columns", value=names)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= n - 2:
        raise ConfigError(
            f"k={k!r}: measure between 2 and {n - 2} archs (2 must remain to score)",
            field="k",
            value=k,
            allowed=f"integer in [2, {n - 2}]",
        )
    if isinstance(seeds, bool) or not isinstance(seeds, int | np.integer) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r}: need a positive integer", field="seeds", value=seeds, allowed=">= 1")
    groups = {str(key): [str(c) for c in value] for key, value in (exclude_groups or {}).items()}
    for key, members in groups.items():
        for name in [key, *members]:
            if name not in names:
                raise ConfigError(
                    f"exclude_groups names {name!r}, which is not a column; columns: {', '.join(names)}",
                    field="exclude_groups",
                    value=name,
                    allowed=names,
                )
    extra = _feature_matrix(features, n) if features is not None else None

    rows: list[dict[str, Any]] = []
    for held, column in enumerate(names):
        excluded = {column, *groups.get(column, [])}
        sources = [i for i, name in enumerate(names) if name not in excluded]
        if not sources:
            raise ConfigError(
                f"holding out {column!r} with its group {sorted(excluded)} leaves no source column",
                field="exclude_groups",
                value=column,
                allowed="groups that leave at least one source column",
            )
        for seed in range(int(seeds)):
            measured = sample_measured(n, int(k), seed)
            rest = np.setdiff1d(np.arange(n), measured)
            model = FewShotLatencyTransfer(alphas).fit(data[:, sources], measured, data[measured, held], extra)
            truth, predicted = data[rest, held], model.predict()[rest]
            rows.append(
                {
                    "column": column,
                    "k": int(k),
                    "seed": seed,
                    "spearman": spearman(truth, predicted),
                    "kendall_tau": kendall_tau(truth, predicted),
                    "mape": mape(truth, predicted),
                    "method": model.method_,
                    "sources": [names[i] for i in sources],
                }
            )
    return rows
