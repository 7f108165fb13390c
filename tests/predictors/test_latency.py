"""Latency tables: the latency model's fit, the file format and its errors, and the timers on real backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predictors.latency import TABLE_VERSION, LatencyTable
from predictors.latency_fit import LatencyFit
from search_spaces import CheckpointError, ConfigError, DataError


def make_table() -> LatencyTable:
    return LatencyTable(
        "ofa_mbv3_small", "cpu", 1, 10, {"name": "test"}, {"a": {"median_ms": 1.5}, "b": {"median_ms": 2.0}}
    )


def rows(raw: np.ndarray, parts: np.ndarray, ops: np.ndarray | None = None) -> np.ndarray:
    """Feature rows (raw_ms, parts, ops, activations_m, one)."""
    ops = parts * 10 if ops is None else ops
    return np.column_stack([raw, parts, ops, raw / 3, np.ones(len(raw))])


def test_the_fit_finds_a_per_part_overhead_the_scaled_sum_misses() -> None:
    rng = np.random.default_rng(0)
    parts = rng.integers(12, 24, 40).astype(float)
    raw = rng.uniform(5, 50, 40) + 0.2 * parts
    measured = 0.9 * raw - 0.15 * parts + 1.0  # each part timed alone carries 0.15 ms the network does not pay
    fitted = LatencyFit.fit(rows(raw, parts), measured)
    assert fitted.method in ("parts", "full") and fitted.cv_mape < 1e-6
    assert fitted.candidates["scale"] > 10 * fitted.cv_mape and fitted.candidates["affine"] > 10 * fitted.cv_mape
    assert np.allclose(fitted.predict(rows(raw, parts)), measured)


def test_an_affine_relation_is_recovered_exactly() -> None:
    rng = np.random.default_rng(1)
    raw = rng.uniform(5, 50, 40)
    fitted = LatencyFit.fit(rows(raw, np.full(40, 15.0)), 0.8 * raw + 1.0)
    assert fitted.fit_mape < 1e-9 and fitted.predict(rows(np.array([10.0]), np.array([15.0])))[0] == pytest.approx(9.0)


def test_a_fit_that_flattens_the_predictions_is_refused() -> None:
    rng = np.random.default_rng(2)
    measured = rng.uniform(5, 10, 30)
    raw = measured + np.where(np.arange(30) % 3 == 0, 100.0, 0.0)  # a third of the nets hold a part timed in a stall
    fitted = LatencyFit.fit(rows(raw, np.full(30, 15.0), np.full(30, 150.0)), measured)
    assert np.isnan(fitted.candidates["affine"])  # it would predict ~7.5 ms for every net: refused
    predicted = fitted.predict(rows(raw, np.full(30, 15.0), np.full(30, 150.0)))
    assert np.std(predicted) / np.mean(predicted) >= 0.5 * np.std(measured) / np.mean(measured)


def test_a_fit_no_better_than_the_raw_sum_falls_back_to_it_and_says_so() -> None:
    rng = np.random.default_rng(3)
    raw = rng.uniform(5, 50, 12)
    fitted = LatencyFit.fit(rows(raw, rng.integers(12, 24, 12).astype(float), rng.uniform(100, 300, 12)), raw)
    assert fitted.method == "raw" and fitted.coefficients == (1.0, 0.0, 0.0, 0.0, 0.0)
    assert "fell back to the raw per-part sum" in fitted.note and "does no better" in fitted.note


def test_a_model_barely_better_than_the_raw_sum_does_not_earn_its_parameters() -> None:
    rng = np.random.default_rng(4)
    parts, raw = rng.integers(12, 24, 40).astype(float), rng.uniform(5, 50, 40)
    measured = raw * (1 + rng.normal(0, 0.05, 40)) + 0.04 * parts  # 5 % noise over a small per-part cost
    fitted = LatencyFit.fit(rows(raw, parts, rng.uniform(100, 300, 40)), measured)
    best = min(score for score in fitted.candidates.values() if not np.isnan(score))
    assert best < fitted.cv_mape  # a fitted candidate scored better on held-out networks...
    assert fitted.method == "raw" and "within one standard error" in fitted.note  # ...but not by a standard error


def test_the_fit_rejects_too_few_or_bad_measurements() -> None:
    three = rows(np.array([1.0, 2.0, 3.0]), np.ones(3))
    with pytest.raises(ConfigError, match="calibration"):
        LatencyFit.fit(three, [1, 2, 3])
    four = rows(np.array([1.0, 2.0, 3.0, 4.0]), np.ones(4))
    with pytest.raises(ConfigError, match="positive"):
        LatencyFit.fit(four, [1, 2, -3, 4])
    with pytest.raises(ConfigError, match="one row of 5"):
        LatencyFit.fit(np.ones((4, 2)), [1, 2, 3, 4])


def test_prediction_sums_parts_and_applies_the_model() -> None:
    table = make_table()
    assert table.predict_ms(["a", "b", "a"]) == pytest.approx(5.0)
    table.model = LatencyFit.affine(0.5, 1.0, 10, 0.01)
    assert table.predict_ms(["a", "b", "a"]) == pytest.approx(0.5 * 5.0 + 1.0)
    with pytest.raises(DataError, match="no entry for part 'zz'"):
        table.predict_ms(["a", "zz"])


def test_round_trip_and_errors_for_wrong_files(tmp_path: Path) -> None:
    table = make_table()
    table.entries["a"].update(iqr_ms=0.1, repeats=20, ops=12, activations=3000, rounds=5, spread=1.1, remeasured=1)
    table.model = LatencyFit.fit(rows(np.linspace(5, 50, 8), np.arange(12.0, 20.0)), np.linspace(5, 50, 8) * 0.9)
    table.validation = {"mape": 0.1, "floor_mape": 0.08}
    path = table.save(tmp_path / "cpu.json")
    loaded = LatencyTable.load(path, space="ofa_mbv3_small")
    assert loaded.entries["a"] == table.entries["a"] and loaded.validation == table.validation
    assert loaded.model.method == table.model.method
    assert np.allclose(loaded.model.coefficients, table.model.coefficients)
    with pytest.raises(CheckpointError, match="space 'ofa_mbv3_small', not 'ofa_mbv3'"):
        LatencyTable.load(path, space="ofa_mbv3")
    payload = json.loads(path.read_text())
    cases = {
        "version": ({**payload, "version": TABLE_VERSION + 1}, "version"),
        "format": ({**payload, "format": "something"}, "not a latency table"),
        "entry": ({**payload, "entries": {"a": {"median_ms": "fast"}}}, "malformed"),
        "negative": ({**payload, "entries": {"a": {"median_ms": -1}}}, "malformed"),
        "ops": ({**payload, "entries": {"a": {"median_ms": 1, "ops": 1.5}}}, "ops=1.5 must be an integer"),
        "method": ({**payload, "model": {**payload["model"], "method": "magic"}}, "model.method='magic'"),
        "coefficients": ({**payload, "model": {**payload["model"], "coefficients": [1, 2]}}, "5 numbers"),
        "model_fields": ({**payload, "model": {"method": "raw"}}, "model must hold exactly"),
        "validation": ({**payload, "validation": [1]}, "validation must be an object"),
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


def test_a_version_1_table_loads_with_its_correction_as_an_affine_model(tmp_path: Path) -> None:
    payload = {k: v for k, v in make_table().to_dict().items() if k not in ("model", "validation")}
    payload.update(version=1, correction={"scale": 0.5, "offset_ms": 1.0, "samples": 10, "fit_mape": 0.01})
    (tmp_path / "v1.json").write_text(json.dumps(payload))
    loaded = LatencyTable.load(tmp_path / "v1.json")
    assert loaded.model.method == "affine" and loaded.predict_ms(["a", "b"]) == pytest.approx(0.5 * 3.5 + 1.0)
