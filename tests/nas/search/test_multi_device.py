"""One search for several devices: a latency table per device (``--latency-table NAME=TABLE``), budgets per device,
and ``--per-device`` fronts from the same evaluations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nas.cli import main
from nas.search.pareto import pareto_mask
from nas.supernet.families.mobilenetv3.parts import build_part, distinct_parts
from nas.supernet.part_costs import parts_macs
from predictors.latency import LatencyTable
from search_spaces import get_space
from tests.nas.search.test_search import SPACE, fitted_predictor


def device_table(path: Path, milliseconds: Callable[[float], float], space: str = SPACE) -> Path:
    """A noise-free device: each part takes ``milliseconds(its MACs)``."""
    table = LatencyTable(space, "cpu", 1, 10, {"name": path.stem})
    for part in distinct_parts(get_space(space), 10):
        macs = parts_macs(build_part, [part])
        table.entries[part.key] = {"median_ms": milliseconds(macs), "iqr_ms": 0.0, "repeats": 1}
    table.save(path)
    return path


@pytest.fixture
def tables(tmp_path: Path) -> dict[str, Path]:
    """A compute-bound device and one where every part costs a fixed overhead (depth matters more than width)."""
    return {
        "fast": device_table(tmp_path / "fast.json", lambda macs: macs / 1e6),
        "slow": device_table(tmp_path / "slow.json", lambda macs: 2.0 + macs / 8e6),
    }


def test_per_device_fronts_come_from_one_search(
    tmp_path: Path, tables: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    predictor = fitted_predictor(tmp_path / "predictor")
    args = [
        "search", "--runs-root", str(tmp_path), "--name", "multi", "--predictor", str(predictor),
        "--latency-table", f"fast={tables['fast']}", "--latency-table", f"slow={tables['slow']}",
        "--objectives", "accuracy", "latency", "--budget", "latency@fast=25", "--budget", "latency@slow=60",
        "--per-device", "--trials", "64", "--batch", "16", "--population", "16", "--json",
    ]  # fmt: skip
    assert main(args) == 0
    run = tmp_path / "multi"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["objectives"] == ["accuracy", "latency@fast", "latency@slow"]
    trials = pd.read_csv(run / "trials.csv")
    assert len(trials) == 64 and {"latency@fast", "latency@slow", "violation_devices"} <= set(trials.columns)
    # a candidate meeting one device's budget but not the other's stays feasible for the search
    one_device = trials[(trials["violation_latency@fast"] > 0) != (trials["violation_latency@slow"] > 0)]
    assert len(one_device) and (one_device["feasible"]).all()
    for device, limit in (("fast", 25), ("slow", 60)):
        facts = summary["devices"][device]
        assert facts["objectives"] == ["accuracy", f"latency@{device}"] and facts["front_size"] >= 1
        front = pd.read_csv(run / f"front@{device}.csv")
        assert (run / f"front@{device}.png").is_file()
        assert len(front) == facts["front_size"] and (front[f"latency@{device}"] <= limit).all()
        meets = (trials[f"violation_latency@{device}"] <= 0) & (trials["violation_domain"] <= 0)  # the predictor's
        eligible = trials[trials["evaluated"] & meets]
        values = eligible[["accuracy", f"latency@{device}"]].to_numpy(dtype=np.float64)
        expected = set(eligible["trial"][pareto_mask(values, ["maximize", "minimize"])])
        assert set(front["trial"]) == expected  # exactly the device's non-dominated feasible candidates
    assert main(["report", str(run)]) == 0
    printed = capsys.readouterr().out
    assert "device fast: front of" in printed and "device slow: front of" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--latency-table", "bad name=x.json"], "a device name is letters, digits"),
        (["--budget", "latency@gpu=3"], "latency@gpu.*--latency-table gpu=TABLE"),
        (["--objectives", "macs", "params", "--per-device"], "--per-device needs device latencies"),
        (["--latency-table", "other={other}"], "for space 'ofa_mbv3'"),
    ],
)
def test_bad_device_settings_are_refused_by_name(
    tmp_path: Path, tables: dict[str, Path], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = device_table(tmp_path / "other.json", lambda macs: macs / 1e6, space="ofa_mbv3")
    extra = [text.format(other=other) for text in extra]
    args = ["search", "--runs-root", str(tmp_path), "--name", "bad", "--latency-table", f"fast={tables['fast']}",
            "--objectives", "macs", "latency", "--trials", "4", *extra]  # fmt: skip
    assert main(args) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "bad").exists()
