"""Evaluation workers: Ray cluster plumbing (an embedded local Ray, or a cluster joined by address) and the pool of
workers that build an evaluator once and evaluate payloads."""

from __future__ import annotations

from nas.workers.cluster import connect_ray, start_local_ray
from nas.workers.pool import Completed, EvaluationPool, EvaluatorSpec

__all__ = ["Completed", "EvaluationPool", "EvaluatorSpec", "connect_ray", "start_local_ray"]
