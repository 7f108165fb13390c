"""Measuring many modules on a machine that may be busy: rounds interleaved across modules, and the modules whose timing
is out of line found and measured again.

A busy moment (another process, a page-cache flush, a frequency drop) slows whatever runs during it. Timing each module
to the end before the next lets one such moment spoil every sample of one module; here every module gets one short round
in turn, in a shuffled order, ``rounds`` times over, and keeps the median of its round medians. A module is then *out of
line* when its rounds disagree (the median of its rounds over its fastest round above ``spread_limit``: most of its
rounds were slowed) or when it is much slower than modules of the same kind and similar cost predict (a robust fit of
log time on log MACs per kind); those are measured again in fresh interleaved rounds, up to ``retries`` times, and the
table records that they were. A :class:`~nas.profile.reference.Reference` timed between the modules lets their timings
be expressed at one machine speed, however the machine's speed drifts meanwhile."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from nas.profile.reference import Reference
from nas.profile.timers import Runner, Timer, Timing, summarize

__all__ = ["Measured", "OutOfLine", "measure_in_rounds", "measure_robustly", "out_of_line"]

SPREAD_LIMIT = 1.5
"""A module whose median round is this much slower than its fastest is measured again."""
NEIGHBOUR_LIMIT = 2.5
"""A module this much slower than the fit of its kind predicts is measured again."""


@dataclass(frozen=True)
class OutOfLine:
    """Why a module's timing looks disturbed: ``spread`` (its rounds disagree) or ``neighbours`` (slower than
    modules of its kind and cost), with the ratio found."""

    reason: str
    ratio: float


@dataclass(frozen=True)
class Measured:
    """Timings of many modules: ``timings`` at the machine speed of ``reference_ms`` (the reference module's time
    they were scaled to; as measured when no reference was timed), ``as_measured`` without that scaling, and
    ``speed``, the reference's median during this measurement over ``reference_ms`` (above 1: the machine ran
    slower than at that speed)."""

    timings: dict[Hashable, Timing]
    as_measured: dict[Hashable, Timing]
    reference_ms: float | None = None
    speed: float = 1.0


def measure_in_rounds(
    timer: Timer,
    runners: Mapping[Hashable, Callable[[], Runner]],
    rounds: int | None = None,
    seed: int = 0,
    progress: bool = False,
    description: str = "measure",
    built: dict[Hashable, Runner] | None = None,
    reference: Reference | None = None,
    reference_ms: float | None = None,
) -> Measured:
    """Time every runner (built lazily by its factory, once, and kept in ``built`` when given, so a later call
    reuses it) in ``rounds`` interleaved rounds: each round visits every key once, in a new random order.

    With a ``reference``, it is timed at the start and end of every round and every
    :data:`~nas.profile.reference.TICK_SECONDS` between; each sample is divided by the reference's time around it
    and multiplied by ``reference_ms`` (by default the reference's median during this call)."""
    rounds = rounds or timer.rounds
    rng = random.Random(seed)
    keys = list(runners)
    built = {} if built is None else built
    first_tick = len(reference.ticks) if reference else 0
    samples: dict[Hashable, list[list[float]]] = {key: [] for key in keys}
    relative: dict[Hashable, list[list[float]]] = {key: [] for key in keys}
    bar = tqdm(total=rounds * len(keys), desc=description, unit="sample", leave=False) if progress else None
    try:
        with timer.session():
            for _ in range(rounds):
                rng.shuffle(keys)
                taken: list[tuple[Hashable, int]] = []
                if reference:
                    reference.tick()
                for key in keys:
                    if key not in built:
                        built[key] = runners[key]()
                    samples[key].append(built[key].samples(timer.round_seconds, timer.round_blocks))
                    taken.append((key, len(reference.ticks) - 1 if reference else 0))
                    if reference and reference.due():
                        reference.tick()
                    if bar is not None:
                        bar.update(1)
                if reference:
                    reference.tick()
                    for key, before in taken:
                        around = math.sqrt(reference.ticks[before] * reference.ticks[before + 1])
                        relative[key].append([sample / around for sample in samples[key][-1]])
    finally:
        if bar is not None:
            bar.close()
    as_measured = {key: summarize(samples[key]) for key in runners}
    if not reference:
        return Measured(as_measured, as_measured)
    during = reference.median_ms(first_tick)
    scale = reference_ms or during
    timings = {key: summarize([[r * scale for r in round_] for round_ in relative[key]]) for key in runners}
    return Measured(timings, as_measured, scale, during / scale)


def out_of_line(
    timings: Mapping[Hashable, Timing],
    kinds: Mapping[Hashable, str],
    macs: Mapping[Hashable, float],
    spread_limit: float = SPREAD_LIMIT,
    neighbour_limit: float = NEIGHBOUR_LIMIT,
) -> dict[Hashable, OutOfLine]:
    """The modules whose timing is out of line with their own rounds or with modules of their kind."""
    found: dict[Hashable, OutOfLine] = {}
    for key, timing in timings.items():
        if timing.spread > spread_limit:
            found[key] = OutOfLine("spread", timing.spread)
    by_kind: dict[str, list[Hashable]] = {}
    for key in timings:
        by_kind.setdefault(kinds[key], []).append(key)
    for members in by_kind.values():
        if len(members) < 4:
            continue
        x = np.log([max(float(macs[key]), 1.0) for key in members])
        y = np.log([max(timings[key].median_ms, 1e-6) for key in members])
        residual = y - _robust_line(x, y)
        for key, excess in zip(members, residual):
            if excess > math.log(neighbour_limit) and key not in found:
                found[key] = OutOfLine("neighbours", float(math.exp(excess)))
    return found


def _robust_line(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A least-squares line refitted without the points more than 3 MADs off it (so a few stalls cannot tilt it)."""
    keep = np.ones(len(x), dtype=bool)
    fitted = np.full(len(x), np.median(y))
    for _ in range(3):
        if keep.sum() < 3 or np.ptp(x[keep]) == 0:
            break
        slope, intercept = np.polyfit(x[keep], y[keep], 1)
        fitted = slope * x + intercept
        residual = y - fitted
        mad = np.median(np.abs(residual[keep] - np.median(residual[keep]))) or 1e-9
        keep = np.abs(residual - np.median(residual[keep])) <= 3 * 1.4826 * mad
    return fitted


def measure_robustly(
    timer: Timer,
    runners: Mapping[Hashable, Callable[[], Runner]],
    kinds: Mapping[Hashable, str],
    macs: Mapping[Hashable, float],
    seed: int = 0,
    retries: int = 2,
    progress: bool = False,
    description: str = "measure",
    reference: Reference | None = None,
) -> tuple[Measured, dict[Hashable, dict[str, Any]]]:
    """Interleaved rounds over every runner, then fresh rounds for the out-of-line ones (the faster of the two
    measurements kept), up to ``retries`` times; all at the reference speed of the first rounds. Returns the
    measurement and, per re-measured key, what was found."""
    built: dict[Hashable, Runner] = {}
    first = measure_in_rounds(
        timer, runners, seed=seed, progress=progress, description=description, built=built, reference=reference
    )
    timings = dict(first.timings)
    remeasured: dict[Hashable, dict[str, Any]] = {}
    for attempt in range(1, retries + 1):
        flagged = out_of_line(timings, kinds, macs)
        if not flagged:
            break
        again = measure_in_rounds(
            timer,
            {key: runners[key] for key in flagged},
            seed=seed + attempt,
            progress=progress,
            description=f"re-measure {len(flagged)}",
            built=built,
            reference=reference,
            reference_ms=first.reference_ms,
        )
        for key, reason in flagged.items():
            timings[key] = _pooled(timings[key], again.timings[key])
            remeasured[key] = {"times": attempt, "reason": reason.reason, "ratio": round(reason.ratio, 3)}
    return Measured(timings, first.as_measured, first.reference_ms, first.speed), remeasured


def _pooled(first: Timing, second: Timing) -> Timing:
    """The faster of two measurements of one module (a busy machine only ever slows a module down), counting the
    samples and rounds of both."""
    best = second if second.median_ms <= first.median_ms else first
    return Timing(
        best.median_ms, best.iqr_ms, first.repeats + second.repeats, first.rounds + second.rounds, best.spread
    )
