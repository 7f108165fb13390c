"""A reference module timed between the modules being measured, so that their timings can be expressed at one
machine speed.

A shared or virtual machine changes speed over tens of seconds (on the 2-core VM this was written on, the same 40
subnets measured in five back-to-back sessions moved by up to 27 % as a whole, while their ratios to each other
moved by 2-4 %). Such a drift says nothing about which subnet is faster, yet it would make a table profiled in one
minute disagree with measurements taken the next. The reference is the space's smallest subnet (a small fixed
network of another shape followed the subnets' drift less well: the kind of work matters), timed every
:data:`TICK_SECONDS` of measurement; each module's sample is divided by the reference's time around it and
multiplied back by one reference time (the table's), which gives every timing at the machine speed of profiling.
"""

from __future__ import annotations

import statistics
import time

from torch import nn

from nas.profile.timers import Runner, Timer

__all__ = ["TICK_SECONDS", "Reference"]

TICK_SECONDS = 0.5
"""How often the reference is timed while other modules are measured."""


class Reference:
    """A reference module on a timer's device, and the times it took each time it was timed (``ticks``)."""

    def __init__(self, timer: Timer, module: nn.Module, input_shape: tuple[int, ...]):
        self.runner: Runner = timer.runner(module, input_shape)
        self.ticks: list[float] = []
        self._last = -float("inf")

    def tick(self) -> float:
        """Time the reference once now (two short blocks of calls) and return its per-call milliseconds."""
        milliseconds = statistics.median(self.runner.samples(0.002, 2))
        self.ticks.append(milliseconds)
        self._last = time.perf_counter()
        return milliseconds

    def due(self) -> bool:
        """Whether :data:`TICK_SECONDS` have passed since the last tick."""
        return time.perf_counter() - self._last >= TICK_SECONDS

    def median_ms(self, since: int = 0) -> float:
        """The median of the ticks from index ``since`` on."""
        return statistics.median(self.ticks[since:])
