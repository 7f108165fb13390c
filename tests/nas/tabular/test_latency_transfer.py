"""``nas.tabular.latency``: leave-one-device-out latency transfer on a table, its files, the ``latency-transfer``
action and argument checking."""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nas.tabular.latency import (
    HELP_SPEARMAN,
    device_groups,
    latency_features,
    latency_transfer,
    write_latency_outputs,
)
from search_spaces import ConfigError, DataError
from search_spaces.table import read_arch_table

DEVICES = ("phone_ms", "phone_copy_ms", "gpu_1_ms", "gpu_32_ms", "cpu_ms")


def _write_table(path: Path, devices: tuple[str, ...] = DEVICES, zero_at: int | None = None) -> Path:
    """72 archs; ``phone_copy`` is 2.5 x ``phone``; the others are other mixes of the same cost terms."""
    rng = np.random.default_rng(0)
    rows = []
    for index, (depth, width, kernel) in enumerate(itertools.product((1, 2, 3, 4), (1, 2, 3), (3, 5, 7, 9, 11, 13))):
        compute = depth * width * kernel**2 / 9
        phone = 2.0 + compute * (1 + 0.01 * rng.standard_normal())
        values = {
            "phone_ms": phone,
            "phone_copy_ms": 2.5 * phone,
            "gpu_1_ms": 1.0 + 0.5 * depth + 0.02 * compute,
            "gpu_32_ms": 3.0 + 0.3 * depth + 0.5 * compute,
            "cpu_ms": 1.0 + 1.5 * compute**0.9 + 0.1 * depth,
        }
        row = {"depth": depth, "width": width, "kernel": kernel, "acc": 70 + depth}
        row.update({name: round(values[name], 6) for name in devices})
        if zero_at == index:
            row[devices[0]] = 0.0
        rows.append(row)
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read(path: Path, devices: tuple[str, ...] = DEVICES):
    return read_arch_table(path, ["depth", "width", "kernel"], ["acc", *devices])


@pytest.fixture
def table(tmp_path: Path):
    return _read(_write_table(tmp_path / "latency.csv"))


def test_a_scaled_copy_of_a_device_is_predicted_exactly(table) -> None:
    report = latency_transfer(table, ks=(5, 10), seeds=3)
    assert report["devices"] == list(DEVICES)  # every *_ms column, not acc
    assert report["ks"] == [5, 10] and report["seeds"] == 3
    copy = {row["k"]: row["spearman"] for row in report["per_column"] if row["column"] == "phone_copy_ms"}
    assert copy[5] > 0.99 and copy[10] > 0.99
    assert len(report["per_column"]) == len(DEVICES) * 2
    assert [row["k"] for row in report["per_k"]] == [5, 10]
    for row in report["per_k"]:
        assert row["min_spearman"] <= row["median_spearman"] and row["min_spearman"] <= row["mean_spearman"] <= 1
    assert report["per_k"][1]["help_spearman"] == HELP_SPEARMAN and report["per_k"][0]["help_spearman"] is None
    assert report["groups"] == {"gpu_1_ms": ["gpu_32_ms"], "gpu_32_ms": ["gpu_1_ms"]}
    assert report["feature_names"] == ["depth", "width", "kernel"]  # numeric choices: no count_* columns here


def test_hold_out_column_and_feature_choices(table) -> None:
    report = latency_transfer(table, ["phone_ms", "phone_copy_ms", "cpu_ms"], ks=[8], seeds=2, hold_out="column")
    assert report["groups"] == {} and report["devices"] == ["phone_ms", "phone_copy_ms", "cpu_ms"]
    for features in ("encode", "none"):
        assert latency_transfer(table, ks=[8], seeds=1, features=features)["features"] == features
    assert latency_features(table, "none") == (None, [])
    matrix, names = latency_features(table, "encode")
    assert matrix.shape == (72, len(names)) == (72, len(table.space.feature_names()))


def test_device_groups() -> None:
    groups = device_groups(["2080ti_1_ms", "2080ti_32_ms", "gold_6226_ms", "raspi4_ms", "titan_rtx_1_ms"])
    assert groups == {"2080ti_1_ms": ["2080ti_32_ms"], "2080ti_32_ms": ["2080ti_1_ms"]}


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        ({"device_columns": ["phone_ms"]}, "device_columns", "at least 2"),
        ({"device_columns": ["phone_ms", "tpu_ms"]}, "device_columns", "cpu_ms"),
        ({"device_columns": ["phone_ms", "phone_ms"]}, "device_columns", "repeats"),
        ({"device_columns": "phone_ms"}, "device_columns", "list"),
        ({"ks": [1]}, "ks", "[2, 70]"),
        ({"ks": [71]}, "ks", "[2, 70]"),
        ({"ks": []}, "ks", "non-empty"),
        ({"ks": [5, 5]}, "ks", "repeats"),
        ({"seeds": 0}, "seeds", "positive"),
        ({"features": "macs"}, "features", "counts"),
        ({"hold_out": "batch"}, "hold_out", "device"),
        ({"device_columns": ["gpu_1_ms", "gpu_32_ms"]}, "hold_out", "hold_out='column'"),
    ],
)
def test_bad_arguments_name_the_field(table, arguments: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        latency_transfer(table, **{"ks": [5], "seeds": 1, **arguments})
    assert error.value.field == field
    assert words in str(error.value)


def test_fewer_than_two_latency_columns(tmp_path: Path) -> None:
    table = _read(_write_table(tmp_path / "one.csv", devices=("phone_ms",)), devices=("phone_ms",))
    with pytest.raises(ConfigError, match="at least 2") as error:
        latency_transfer(table)
    assert error.value.field == "device_columns"


def test_non_positive_latency_names_row_and_column(tmp_path: Path) -> None:
    table = _read(_write_table(tmp_path / "zero.csv", zero_at=4))
    with pytest.raises(DataError, match=r"row 5, column 'phone_ms'"):
        latency_transfer(table, ks=[5], seeds=1)


def test_outputs_are_written(table, tmp_path: Path) -> None:
    report = latency_transfer(table, ks=(5, 10), seeds=2)
    paths = write_latency_outputs(report, tmp_path / "out")
    with paths["csv"].open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(DEVICES) * 2
    assert list(rows[0]) == ["column", "k", "spearman", "spearman_std", "kendall_tau", "mape"]
    assert {(row["column"], int(row["k"])) for row in rows} == {(d, k) for d in DEVICES for k in (5, 10)}
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError):
        write_latency_outputs({"per_k": []}, tmp_path / "bad")


def test_latency_transfer_action(
    tmp_path: Path, bench_actions: tuple[argparse.ArgumentParser, list[dict[str, Any]]]
) -> None:
    path = _write_table(tmp_path / "latency.csv")
    parser, reports = bench_actions
    defaults = parser.parse_args(["latency-transfer"])
    assert defaults.table.endswith("derived/nb201_latency_help.csv") and defaults.devices is None
    assert defaults.ks == [5, 10, 20] and defaults.out == "runs/bench/latency-transfer"
    common = ["--table", str(path), "--arch-columns", "depth", "width", "kernel", "--arch-format", "none"]
    args = parser.parse_args(["latency-transfer", *common, "--ks", "5", "8", "--seeds", "2", "--out", str(tmp_path)])
    assert args.func(args) == 0
    report = reports[-1]
    assert report["devices"] == len(DEVICES) and report["ks"] == [5, 8]
    assert min(report["spearman_by_column"]["phone_copy_ms"]) > 0.99
    assert Path(report["csv"]).is_file() and Path(report["png"]).is_file()
    args = parser.parse_args(["latency-transfer", *common, "--devices", "phone_ms", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="at least 2"):
        args.func(args)


def test_nb201_transfer_on_help_latencies(benchdata: Path) -> None:
    devices = ("1080ti_1_ms", "1080ti_32_ms", "gold_6226_ms", "raspi4_ms", "fpga_ms")
    table = read_arch_table(
        benchdata / "derived" / "nb201_latency_help.csv", ["arch_str"], list(devices), arch_format="nb201"
    )
    report = latency_transfer(table, ks=[10], seeds=2)
    assert report["feature_names"] == [
        "count_none",
        "count_skip_connect",
        "count_nor_conv_1x1",
        "count_nor_conv_3x3",
        "count_avg_pool_3x3",
    ]
    assert report["groups"] == {"1080ti_1_ms": ["1080ti_32_ms"], "1080ti_32_ms": ["1080ti_1_ms"]}
    assert report["per_k"][0]["mean_spearman"] > 0.85
