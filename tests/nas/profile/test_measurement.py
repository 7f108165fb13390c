"""Measuring on a busy machine: rounds interleaved across modules, out-of-line modules found and measured again
(with scripted runners, so the assertions hold on any machine), and a real profile while another process burns a
core."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from torch import nn

from nas.profile.measurement import OutOfLine, measure_in_rounds, measure_robustly, out_of_line
from nas.profile.reference import Reference
from nas.profile.tables import measure_subnets, profile_table, random_archs
from nas.profile.timers import CpuTimer, Runner, Timer, Timing
from nas.supernet.families.mobilenetv3.parts import distinct_parts
from nas.supernet.latency import LatencyModel
from predictors.metrics import spearman
from search_spaces import get_space


class ScriptedRunner(Runner):
    """A runner whose samples come from a script: ``times[call]`` ms for its ``call``-th round (the last one
    repeats), recording the order in which rounds visit it."""

    def __init__(self, key: str, times: list[float], order: list[str]):
        self.key, self.times, self.order, self.calls = key, times, order, 0

    def samples(self, seconds: float, blocks: int) -> list[float]:
        self.order.append(self.key)
        value = self.times[min(self.calls, len(self.times) - 1)]
        self.calls += 1
        return [value] * blocks


class ScriptedTimer(Timer):
    """Runs nothing: a module of class ``name`` takes ``scripts[name]`` ms in its successive rounds (1 ms if
    unscripted)."""

    device = "scripted"

    def __init__(self, scripts: dict[str, list[float]] | None = None, **options: Any):
        super().__init__(**options)
        self.scripts = scripts or {}

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        name = type(module).__name__
        return ScriptedRunner(name, self.scripts.get(name, [1.0]), [])

    def describe(self) -> dict[str, Any]:
        return {"device": "scripted"}


def test_rounds_visit_every_module_once_each_in_a_new_order() -> None:
    order: list[str] = []
    keys = [f"m{i}" for i in range(8)]
    runners = {key: (lambda key=key: ScriptedRunner(key, [1.0], order)) for key in keys}
    timings = measure_in_rounds(ScriptedTimer(rounds=4), runners, seed=0).timings
    rounds = [order[i * 8 : (i + 1) * 8] for i in range(4)]
    assert all(sorted(r) == sorted(keys) for r in rounds)  # one visit per module per round
    assert len({tuple(r) for r in rounds}) > 1  # reshuffled between rounds
    assert all(t.rounds == 4 and t.median_ms == 1.0 for t in timings.values())


def test_a_stall_in_one_round_does_not_move_the_median() -> None:
    order: list[str] = []
    runners = {"m": lambda: ScriptedRunner("m", [1.0, 88.0, 1.0, 1.0, 1.0], order)}
    (timing,) = measure_in_rounds(ScriptedTimer(rounds=5), runners).timings.values()
    assert timing.median_ms == 1.0 and timing.spread == 1.0 and timing.rounds == 5


def test_a_stall_over_most_rounds_shows_in_the_spread() -> None:
    runners = {"m": lambda: ScriptedRunner("m", [1.0, 3.0, 3.0, 3.0, 1.0], [])}
    (timing,) = measure_in_rounds(ScriptedTimer(rounds=5), runners).timings.values()
    assert timing.median_ms == 3.0 and timing.spread == 3.0
    assert out_of_line({"m": timing}, {"m": "block"}, {"m": 1e6}) == {"m": OutOfLine("spread", 3.0)}


def test_a_machine_at_half_speed_as_a_whole_leaves_timings_at_the_reference_speed() -> None:
    # the machine runs at half speed from the second round on: the modules and the reference take twice as long
    timer = ScriptedTimer({"Identity": [1.0, 1.0, 2.0]}, rounds=3)
    runners = {key: (lambda key=key, ms=ms: ScriptedRunner(key, [ms, 2 * ms], [])) for key, ms in (("a", 1), ("b", 3))}
    measured = measure_in_rounds(timer, runners, reference=Reference(timer, nn.Identity(), (1,)), reference_ms=1.0)
    assert measured.as_measured["a"].median_ms == 2.0 and measured.as_measured["b"].median_ms == 6.0
    assert measured.timings["a"].median_ms == 1.0 and measured.timings["b"].median_ms == 3.0
    assert measured.timings["a"].spread == 1.0 and measured.speed == 2.0 and measured.reference_ms == 1.0
    assert not measure_in_rounds(timer, runners).reference_ms  # no reference: timings are as measured


def test_out_of_line_modules_are_found_by_their_rounds_and_by_their_kind() -> None:
    macs = {f"b{i}": 1e6 * (i + 1) for i in range(10)}
    timings = {key: Timing(0.1 * m / 1e6, 0.0, 5, 5, 1.1) for key, m in macs.items()}
    timings["b3"] = Timing(timings["b3"].median_ms * 250, 0.0, 5, 5, 1.1)  # a whole part measured during a stall
    timings["b7"] = Timing(timings["b7"].median_ms, 0.0, 5, 5, 3.0)  # rounds that disagree
    found = out_of_line(timings, {key: "block" for key in macs}, macs)
    assert set(found) == {"b3", "b7"}
    assert found["b3"].reason == "neighbours" and found["b3"].ratio > 100 and found["b7"].reason == "spread"


def test_out_of_line_modules_are_measured_again_and_recorded() -> None:
    order: list[str] = []
    macs = {f"b{i}": 1e6 * (i + 1) for i in range(10)}
    times = {key: [0.1 * m / 1e6] for key, m in macs.items()}
    times["b3"] = [88.0] * 5 + [times["b3"][0]]  # stalled for its first five rounds, then normal
    runners = {key: (lambda key=key: ScriptedRunner(key, times[key], order)) for key in macs}
    measured, remeasured = measure_robustly(ScriptedTimer(rounds=5), runners, {k: "block" for k in macs}, macs)
    timings = measured.timings
    assert set(remeasured) == {"b3"} and remeasured["b3"]["reason"] == "neighbours"
    assert timings["b3"].median_ms == pytest.approx(0.4) and timings["b3"].rounds == 10


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Another CPU-bound process for the duration of the block."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


@pytest.mark.slow
def test_a_table_profiled_while_another_process_burns_a_core_is_not_poisoned() -> None:
    space = get_space("ofa_mbv3_small")
    timer = CpuTimer(threads=1, warmup=1, min_repeats=6, min_seconds=0.03, rounds=3)
    with busy_core():
        table = profile_table(space, timer, 1, 10, calibration=12, seed=0, progress=False)
        archs = random_archs(space, 16, seed=5)
        subnets = measure_subnets(space, archs, timer, 1, 10, seed=5)
        measured = np.array([subnets.timings[i].median_ms for i in range(len(archs))])
    parts = {part.key: part for part in distinct_parts(space, 10)}
    timings = {key: Timing(**{k: v for k, v in entry.items() if k in Timing.__dataclass_fields__})
               for key, entry in table.entries.items()}  # fmt: skip
    macs = {key: float(entry["macs"]) for key, entry in table.entries.items()}
    poisoned = out_of_line(timings, {key: parts[key].kind for key in parts}, macs, spread_limit=1e9, neighbour_limit=10)
    assert not poisoned, f"parts still out of line after re-measuring: {poisoned}"
    predicted = LatencyModel(table, space).predict(archs)
    assert np.all(predicted > 0) and np.std(predicted) / np.mean(predicted) > 0.05  # not flattened to a constant
    assert spearman(measured, predicted) > 0.6
