"""Timing bounds in tests that one stall of a busy machine cannot break."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def fastest_of(call: Callable[[], Any], tries: int = 3) -> tuple[Any, float]:
    """The last result of ``call`` and its fastest wall time in seconds over ``tries`` runs: a bound on the fastest
    run fails only when every run stalls, and orders of magnitude, not milliseconds, are what such bounds check."""
    best = float("inf")
    result = None
    for _ in range(tries):
        start = time.perf_counter()
        result = call()
        best = min(best, time.perf_counter() - start)
    return result, best
