"""Search strategies, accuracy predictors and latency transfer measured on tabular NAS benchmarks (NAS-Bench-201
and any table of the same shape), where evaluating an architecture is a table lookup."""

from __future__ import annotations

from nas.tabular.benchdata import benchdata_path, default_benchdata

__all__ = ["benchdata_path", "default_benchdata"]
