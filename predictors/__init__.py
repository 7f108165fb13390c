"""Predictors and estimators of accuracy, latency, memory and cost. Never imports ``nas``."""

from __future__ import annotations

from predictors.cost import count_macs, count_params

__all__ = ["count_macs", "count_params"]
