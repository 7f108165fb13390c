"""Predictors and estimators of accuracy, latency, memory and cost. Never imports ``nas``."""

from __future__ import annotations

from predictors.base import (
    FORMAT_VERSION,
    Predictor,
    create_predictor,
    load_predictor,
    predictor_kinds,
    register_predictor,
)
from predictors.cost import count_macs, count_params
from predictors.gbm import GradientBoosting
from predictors.metrics import kendall_tau, mape, ranking_report, spearman, top_k_overlap
from predictors.mlp import MLPEnsemble

__all__ = [
    "FORMAT_VERSION",
    "GradientBoosting",
    "MLPEnsemble",
    "Predictor",
    "count_macs",
    "count_params",
    "create_predictor",
    "kendall_tau",
    "load_predictor",
    "mape",
    "predictor_kinds",
    "ranking_report",
    "register_predictor",
    "spearman",
    "top_k_overlap",
]
