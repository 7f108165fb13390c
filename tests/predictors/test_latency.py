"""Latency tables: the correction fit, the file format and its errors, and the timers on real backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nas.profile.timers import CpuTimer, OnnxRuntimeTimer, create_timer, pinned_threads
from predictors.latency import TABLE_VERSION, LatencyCorrection, LatencyTable
from search_spaces import CheckpointError, ConfigError, DataError


def make_table() -> LatencyTable:
    return LatencyTable(
        "ofa_mbv3_small", "cpu", 1, 10, {"name": "test"}, {"a": {"median_ms": 1.5}, "b": {"median_ms": 2.0}}
    )


def test_correction_recovers_a_known_linear_relation() -> None:
    rng = np.random.default_rng(0)
    raw = rng.uniform(5, 50, 40)
    fitted = LatencyCorrection.fit(raw, 0.8 * raw + 1.0)
    assert fitted.scale == pytest.approx(0.8, rel=1e-6)
    assert fitted.offset_ms == pytest.approx(1.0, rel=1e-5)
    assert fitted.fit_mape < 1e-9
    assert fitted.apply(10.0) == pytest.approx(9.0)


def test_an_insane_fit_falls_back_to_the_median_ratio() -> None:
    raw = np.array([10.0, 20.0, 30.0, 40.0])
    measured = np.array([40.0, 30.0, 20.0, 10.0])  # noise so bad that the affine fit's scale is negative
    fitted = LatencyCorrection.fit(raw, measured)
    assert fitted.offset_ms == 0.0 and fitted.scale == pytest.approx(np.median(measured / raw))
    assert fitted.apply(raw).min() > 0


def test_correction_rejects_too_few_or_bad_measurements() -> None:
    with pytest.raises(ConfigError, match="calibration"):
        LatencyCorrection.fit([1, 2, 3], [1, 2, 3])
    with pytest.raises(ConfigError, match="positive"):
        LatencyCorrection.fit([1, 2, 3, 4], [1, 2, -3, 4])


def test_prediction_sums_parts_and_applies_the_correction() -> None:
    table = make_table()
    assert table.predict_ms(["a", "b", "a"]) == pytest.approx(5.0)
    table.correction = LatencyCorrection(0.5, 1.0, 10, 0.01)
    assert table.predict_ms(["a", "b", "a"]) == pytest.approx(0.5 * 5.0 + 1.0)
    with pytest.raises(DataError, match="no entry for part 'zz'"):
        table.predict_ms(["a", "zz"])


def test_round_trip_and_errors_for_wrong_files(tmp_path: Path) -> None:
    table = make_table()
    table.correction = LatencyCorrection(0.9, 0.2, 8, 0.02)
    path = table.save(tmp_path / "cpu.json")
    loaded = LatencyTable.load(path, space="ofa_mbv3_small")
    assert loaded.entries["a"]["median_ms"] == 1.5 and loaded.correction == table.correction
    with pytest.raises(CheckpointError, match="space 'ofa_mbv3_small', not 'ofa_mbv3'"):
        LatencyTable.load(path, space="ofa_mbv3")
    payload = json.loads(path.read_text())
    cases = {
        "version": ({**payload, "version": TABLE_VERSION + 1}, "version"),
        "format": ({**payload, "format": "something"}, "not a latency table"),
        "entry": ({**payload, "entries": {"a": {"median_ms": "fast"}}}, "malformed"),
        "negative": ({**payload, "entries": {"a": {"median_ms": -1}}}, "malformed"),
    }
    for name, (content, message) in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(json.dumps(content))
        with pytest.raises(CheckpointError, match=message):
            LatencyTable.load(bad)
    (tmp_path / "torn.json").write_text(path.read_text()[:50])
    with pytest.raises(CheckpointError, match="not readable JSON"):
        LatencyTable.load(tmp_path / "torn.json")
    with pytest.raises(DataError, match="does not exist"):
        LatencyTable.load(tmp_path / "missing.json")


def test_cpu_timer_orders_small_and_large_work_and_restores_threads() -> None:
    before = torch.get_num_threads()
    timer = CpuTimer(warmup=3, min_repeats=9, min_seconds=0.0)
    small = timer.time(nn.Conv2d(4, 4, 1), (1, 4, 4, 4))  # ~256 MACs
    large = timer.time(nn.Conv2d(64, 64, 3, padding=1), (1, 64, 128, 128))  # ~600 M MACs, tens of ms
    assert 0 < small.median_ms < large.median_ms
    assert small.repeats >= 9 and small.iqr_ms >= 0
    assert torch.get_num_threads() == before
    assert timer.describe()["device"] == "cpu"


def test_onnxruntime_timer_runs_an_exported_module() -> None:
    timer = OnnxRuntimeTimer(warmup=1, min_repeats=3, min_seconds=0.0)
    module = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish()).eval()
    session = timer.session(module, (1, 3, 16, 16))
    sample = torch.randn(1, 3, 16, 16)
    (output,) = session.run(None, {"input": sample.numpy()})
    with torch.no_grad():
        assert np.abs(output - module(sample).numpy()).max() < 1e-4
    assert timer.time(module, (1, 3, 16, 16)).median_ms > 0
    assert "ONNX Runtime" in timer.describe()["name"]


def test_bad_timer_settings_are_typed_errors() -> None:
    with pytest.raises(ConfigError, match="device"):
        create_timer("tpu")
    with pytest.raises(ConfigError, match="min_repeats"):
        CpuTimer(min_repeats=1)
    with pytest.raises(ConfigError, match="threads"), pinned_threads(0):
        pass
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            create_timer("cuda")
