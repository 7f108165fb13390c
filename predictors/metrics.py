"""Ranking and regression metrics for predictors: Kendall tau, Spearman, RMSE, MAE, top-k overlap, MAPE."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["kendall_tau", "mape", "ranking_report", "spearman", "top_k_overlap"]


def _arrays(y_true: Sequence[float], y_pred: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    truth, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if truth.shape != predicted.shape or truth.ndim != 1 or len(truth) < 2:
        raise ValueError(f"need two 1-d sequences of equal length >= 2, got {truth.shape} and {predicted.shape}")
    return truth, predicted


def kendall_tau(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Kendall's tau-b between truth and prediction (1: same order, -1: reversed)."""
    return float(stats.kendalltau(*_arrays(y_true, y_pred)).statistic)


def spearman(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Spearman's rank correlation."""
    return float(stats.spearmanr(*_arrays(y_true, y_pred)).statistic)


def top_k_overlap(y_true: Sequence[float], y_pred: Sequence[float], k: int) -> float:
    """Share of the true top-k (largest values) that the prediction also ranks in its top k."""
    truth, predicted = _arrays(y_true, y_pred)
    k = min(k, len(truth))
    return len(set(np.argsort(-truth)[:k]) & set(np.argsort(-predicted)[:k])) / k


def mape(y_true: Sequence[float], y_pred: Sequence[float]) -> float:
    """Mean absolute percentage error (a fraction: 0.05 is 5 %)."""
    truth, predicted = _arrays(y_true, y_pred)
    return float(np.mean(np.abs(predicted - truth) / np.abs(truth)))


def ranking_report(y_true: Sequence[float], y_pred: Sequence[float], k: int = 10) -> dict[str, float]:
    """Every metric at once, as ``nas predictor eval`` prints them."""
    truth, predicted = _arrays(y_true, y_pred)
    return {
        "kendall_tau": kendall_tau(truth, predicted),
        "spearman": spearman(truth, predicted),
        "rmse": float(np.sqrt(np.mean((predicted - truth) ** 2))),
        "mae": float(np.mean(np.abs(predicted - truth))),
        f"top{k}_overlap": top_k_overlap(truth, predicted, k),
    }
