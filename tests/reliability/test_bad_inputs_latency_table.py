"""Bad-input corpus: latency tables (``nas profile`` output, read by ``LatencyTable.load`` and used through
``LatencyModel``).

Each case must give a ``CheckpointError`` (``DataError`` for a missing file or part) naming the file and the
field, never a TypeError from arithmetic on a string deep inside a search."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nas.supernet.families.mobilenetv3.parts import distinct_parts, subnet_parts
from nas.supernet.latency import LatencyModel
from predictors.latency import LatencyTable
from search_spaces import CheckpointError, ConfigError, DataError, NasError, get_space
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas

SPACE = get_space("ofa_mbv3_small")


def good() -> dict[str, Any]:
    """A complete table for the small space: every part 1 ms, with a correction."""
    entries = {part.key: {"median_ms": 1.0, "iqr_ms": 0.1, "repeats": 5} for part in distinct_parts(SPACE, 10)}
    return {
        "format": "nas-latency-table",
        "version": 1,
        "space": SPACE.name,
        "device": "cpu",
        "batch": 1,
        "num_classes": 10,
        "created": "2026-01-01T00:00:00",
        "machine": {"name": "test"},
        "correction": {"scale": 1.1, "offset_ms": 0.5, "samples": 40, "fit_mape": 0.05},
        "entries": entries,
    }


def changed(**changes: Any) -> str:
    return json.dumps({**good(), **changes})


def first_entry(value: Any) -> str:
    table = good()
    table["entries"][next(iter(table["entries"]))] = value
    return json.dumps(table)


def without(key: str) -> str:
    table = good()
    del table[key]
    return json.dumps(table)


def correction(**changes: Any) -> str:
    return changed(correction={**good()["correction"], **changes})


def good_v2() -> dict[str, Any]:
    """The same table as version 2: a fitted model instead of the correction, and the reference's time."""
    table = {key: value for key, value in good().items() if key != "correction"}
    model = {
        "method": "affine",
        "features": ["raw_ms", "parts", "ops", "activations_m", "one"],
        "coefficients": [1.1, 0.0, 0.0, 0.0, 0.5],
        "samples": 40,
        "fit_mape": 0.05,
        "cv_mape": 0.06,
        "candidates": {"scale": 0.08, "affine": 0.06},
        "note": "affine: held-out MAPE 6.0%",
    }
    return {**table, "version": 2, "model": model, "machine": {"name": "test", "reference": {"ms": 4.0}}}


def model(**changes: Any) -> str:
    return json.dumps({**good_v2(), "model": {**good_v2()["model"], **changes}})


TEXT = json.dumps(good())
CASES = [
    # malformed / truncated
    ("empty_file", "", ["is not readable JSON", "not valid JSON"]),
    ("cut_in_half", TEXT[: len(TEXT) // 2], ["is not readable JSON"]),
    ("cut_one_byte_short", TEXT[:-1], ["is not readable JSON"]),
    ("binary", "\udcff\udcfe\x00\x01", ["is not readable JSON"]),
    ("missing_entries", without("entries"), ["malformed: missing field 'entries'"]),
    ("missing_batch", without("batch"), ["malformed: missing field 'batch'"]),
    ("correction_missing_field", changed(correction={"scale": 1.0}), ["correction must hold exactly scale"]),
    # wrong type / foreign
    ("a_list", "[]", ["is not a latency table"]),
    ("other_format", changed(format="onnx-profile"), ["is not a latency table (format must be 'nas-latency-table')"]),
    ("version_3", changed(version=3), ["has version 3; this release reads 1, 2"]),
    ("version_text", changed(version="1"), ["has version '1'"]),
    ("batch_text", changed(batch="1"), ["batch='1' must be an integer >= 1"]),
    ("batch_fraction", changed(batch=1.5), ["batch=1.5 must be an integer >= 1"]),
    ("batch_bool", changed(batch=True), ["batch=True must be an integer >= 1"]),
    ("device_list", changed(device=["cpu"]), ["device=['cpu'] must be a non-empty string"]),
    ("space_number", changed(space=7), ["is for space 7, not 'ofa_mbv3_small'"]),
    ("entries_list", changed(entries=[1, 2]), ["entries must be an object of parts, got list"]),
    ("entry_null", first_entry(None), ["must be an object, got NoneType"]),
    ("entry_median_text", first_entry({"median_ms": "fast"}), ["median_ms='fast' must be a finite number >= 0"]),
    ("entry_repeats_text", first_entry({"median_ms": 1, "repeats": "5"}), ["repeats='5' must be an integer >= 0"]),
    ("machine_list", changed(machine=[1]), ["machine must be an object, got list"]),
    ("correction_list", changed(correction=[1.1, 0.5]), ["correction must be an object, got list"]),
    ("correction_scale_text", correction(scale="1.1"), ["correction.scale='1.1' must be a finite number"]),
    # out of range
    ("batch_0", changed(batch=0), ["batch=0 must be an integer >= 1"]),
    ("num_classes_negative", changed(num_classes=-10), ["num_classes=-10 must be an integer >= 1"]),
    ("entry_median_negative", first_entry({"median_ms": -1.0}), ["median_ms=-1.0 must be a finite number >= 0"]),
    ("entry_median_nan", first_entry({"median_ms": float("nan")}), ["median_ms=nan must be a finite number"]),
    ("entry_median_infinite", first_entry({"median_ms": float("inf")}), ["median_ms=inf must be a finite number"]),
    ("entry_iqr_nan", first_entry({"median_ms": 1.0, "iqr_ms": float("nan")}), ["iqr_ms=nan must be a finite"]),
    ("entry_median_1e400", TEXT.replace('"median_ms": 1.0', '"median_ms": 1e400', 1), ["median_ms=inf"]),
    ("correction_scale_negative", correction(scale=-1.0), ["correction.scale=-1 must be > 0"]),
    ("correction_scale_zero", correction(scale=0.0), ["correction.scale=0 must be > 0"]),
    ("correction_offset_nan", correction(offset_ms=float("nan")), ["correction.offset_ms=nan must be a finite"]),
    ("correction_samples_negative", correction(samples=-4), ["correction.samples=-4 must be an integer >= 0"]),
    ("correction_mape_negative", correction(fit_mape=-0.1), ["correction.fit_mape=-0.1 must be a finite number >= 0"]),
    ("model_method_unknown", model(method="magic"), ["model.method='magic' must be one of raw, scale, affine"]),
    ("model_features_other", model(features=["raw_ms"]), ["model.features=['raw_ms'] must be ['raw_ms', 'parts'"]),
    ("model_coefficients_short", model(coefficients=[1.0]), ["model.coefficients must be a list of 5 numbers"]),
    ("model_coefficient_text", model(coefficients=["1", 0, 0, 0, 0]), ["model.coefficients[0]='1' must be a finite"]),
    ("model_cv_negative", model(cv_mape=-1), ["model.cv_mape=-1 must be a finite number >= 0"]),
    ("model_missing_note", json.dumps({**good_v2(), "model": {"method": "raw"}}), ["model must hold exactly method"]),
    ("model_extra_field", model(__class__="os.system"), ["model must hold exactly"]),
    ("reference_ms_zero", json.dumps({**good_v2(), "machine": {"reference": {"ms": 0}}}), ["machine.reference.ms=0"]),
    ("reference_list", json.dumps({**good_v2(), "machine": {"reference": [4.0]}}), ["machine.reference must be an"]),
    ("entry_spread_text", first_entry({"median_ms": 1, "spread": "x"}), ["spread='x' must be a finite number >= 0"]),
    # hostile
    ("nested_100k", "[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
    ("integer_5000_digits", '{"format": "nas-latency-table", "version": 1, "batch": ' + "9" * 5000 + "}", ["4300"]),
    ("megabyte_space", changed(space="s" * 1_000_000, device="cpu"), ["for space 'sss"]),
    ("extra_correction_field", correction(__class__="os.system"), ["correction must hold exactly"]),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_latency_table_is_refused_naming_file_and_field(text: str, fragments: list[str], tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(NasError) as caught:
        LatencyTable.load(path, space=SPACE.name)
    check_error(caught.value, CheckpointError, "table.json", *fragments)


@pytest.mark.parametrize("text", [TEXT, json.dumps(good_v2())], ids=["version_1", "version_2"])
def test_the_base_tables_load_and_predict(text: str, tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_text(text)
    table = LatencyTable.load(path, space=SPACE.name)
    parts = len(subnet_parts(SPACE, SPACE.smallest(), 10))  # every part 1 ms; 1.1 x the sum + 0.5 ms in both versions
    assert LatencyModel(table, SPACE).predict([SPACE.smallest()])[0] == pytest.approx(1.1 * parts + 0.5)


def test_table_of_another_space_or_with_a_part_missing(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_text(changed(space="ofa_mbv3"))
    with pytest.raises(NasError) as caught:
        LatencyTable.load(path, space=SPACE.name)
    check_error(caught.value, CheckpointError, "is for space 'ofa_mbv3', not 'ofa_mbv3_small'")
    with pytest.raises(NasError) as caught:
        LatencyModel(LatencyTable.load(path), SPACE)
    check_error(caught.value, ConfigError, "latency table is for space 'ofa_mbv3', not 'ofa_mbv3_small'")
    table = good()
    table["entries"] = dict(list(table["entries"].items())[:3])
    path.write_text(json.dumps(table))
    with pytest.raises(NasError) as caught:
        LatencyModel(LatencyTable.load(path), SPACE).predict([SPACE.largest()])
    check_error(caught.value, DataError, "has no entry for part", "run `nas profile`")


def test_a_table_read_without_naming_its_space_checks_the_space_field(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_text(changed(space=7))
    with pytest.raises(NasError) as caught:
        LatencyTable.load(path)
    check_error(caught.value, CheckpointError, "space=7 must be a non-empty string")


def test_missing_table_and_a_folder_in_its_place(tmp_path: Path) -> None:
    with pytest.raises(NasError) as caught:
        LatencyTable.load(tmp_path / "missing.json")
    check_error(caught.value, DataError, "missing.json does not exist")
    with pytest.raises(NasError) as caught:
        LatencyTable.load(tmp_path)
    check_error(caught.value, CheckpointError, "is not readable JSON")


def test_cli_refuses_a_bad_latency_table_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_text(correction(scale="1.1"))
    result = run_nas(["latency", "predict", str(path), "--arch", "smallest"], tmp_path)
    check_cli_refusal(result, "table.json", "correction.scale='1.1'")
