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
from predictors.blend import Blend
from predictors.cost import count_macs, count_params
from predictors.gbm import GradientBoosting
from predictors.latency import LatencyTable
from predictors.latency_fit import LatencyFit
from predictors.memory import inference_peak_bytes, mcunet_peak_bytes, training_memory, weight_bytes
from predictors.metrics import kendall_tau, mape, ranking_report, spearman, top_k_overlap
from predictors.mlp import MLPEnsemble
from predictors.ridge_gbm import RidgeBoost

__all__ = [
    "FORMAT_VERSION",
    "Blend",
    "GradientBoosting",
    "LatencyFit",
    "LatencyTable",
    "MLPEnsemble",
    "Predictor",
    "RidgeBoost",
    "count_macs",
    "count_params",
    "create_predictor",
    "inference_peak_bytes",
    "kendall_tau",
    "load_predictor",
    "mape",
    "mcunet_peak_bytes",
    "predictor_kinds",
    "ranking_report",
    "register_predictor",
    "spearman",
    "top_k_overlap",
    "training_memory",
    "weight_bytes",
]
