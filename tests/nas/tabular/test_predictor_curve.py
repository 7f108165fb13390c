"""``nas.tabular.predictor``: predictor curves by training size, the published reference curve, output files, the
``predictor`` action, and argument checking."""

from __future__ import annotations

import argparse
import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import predictors
from nas.tabular.benchdata import PROJECT_ROOT, _local_origin, default_benchdata
from nas.tabular.predictor import (
    REFERENCE_FILE,
    predictor_curve,
    predictor_report,
    read_reference_curve,
    write_predictor_outputs,
)
from predictors.ridge_gbm import RidgeBoost, count_columns
from search_spaces import ConfigError, DataError
from search_spaces.table import read_arch_table
from tests.conftest import REPO_ROOT


def _write_table(path: Path) -> Path:
    """150 archs over three columns; ``acc`` is a known monotone function of them, ``flat`` is constant."""
    rows = []
    for depth, width, kernel in itertools.product(range(5), range(6), (3, 5, 7, 9, 11)):
        acc = 50 + 4 * depth + 2.5 * width - 0.8 * kernel + 0.6 * depth * width / 5
        rows.append({"depth": depth, "width": width, "kernel": kernel, "acc": round(acc, 3), "flat": 1.0})
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def table(tmp_path: Path):
    path = _write_table(tmp_path / "toy.csv")
    return read_arch_table(path, ["depth", "width", "kernel"], ["acc", "flat"])


def _reference_csv(path: Path) -> Path:
    path.write_text(
        "search_space,dataset,train_size,test_size,kendalltau_mean\n"
        "nasbench201,cifar10,10,200,0.3221\n"
        "nasbench201,cifar10,500,200,0.8127\n"
        "nasbench201,cifar100,10,200,0.35\n"
        "nasbench101,cifar10,10,200,0.37\n"
    )
    return path


def test_curve_has_the_requested_sizes_and_scores_a_known_function_well(table) -> None:
    rows = predictor_curve(table, "acc", sizes=(10, 40), test=60, seeds=2, kinds=["ridge_gbm", "gbm"])
    assert [row["train_size"] for row in rows] == [10, 40]
    for row in rows:
        assert row["test_size"] == 60 and row["seeds"] == 2
        for kind in ("ridge_gbm", "gbm"):
            for key in ("tau", "tau_std", "spearman", "spearman_std", "seconds"):
                assert f"{kind}_{key}" in row
        assert row["best_tau"] == max(row["ridge_gbm_tau"], row["gbm_tau"])
        assert row["reference_tau"] is None and row["above_reference"] is None
    # the metric is (almost) linear in the columns: the ridge part ranks it from 10 archs already
    assert rows[0]["ridge_gbm_tau"] > 0.8 and rows[0]["ridge_gbm_spearman"] > 0.95
    assert rows[1]["ridge_gbm_tau"] > 0.85 and rows[1]["ridge_gbm_spearman"] > 0.95
    assert rows[1]["gbm_tau"] > 0.75


def test_curve_is_reproducible_and_raw_targets_work(table) -> None:
    first = predictor_curve(table, "acc", sizes=[12], test=30, seeds=2, kinds=["ridge_gbm"])
    again = predictor_curve(table, "acc", sizes=[12], test=30, seeds=2, kinds=["ridge_gbm"])
    timeless = [{k: v for k, v in rows[0].items() if not k.endswith("_seconds")} for rows in (first, again)]
    assert timeless[0] == timeless[1]
    raw = predictor_curve(table, "acc", sizes=[30], test=30, seeds=1, kinds=["ridge_gbm"], target="raw")
    assert raw[0]["ridge_gbm_tau"] > 0.8


def test_reference_is_set_beside_each_size(table) -> None:
    rows = predictor_curve(
        table, "acc", sizes=(10, 20), test=40, seeds=1, kinds=["ridge_gbm"], reference={10: 0.1, 20: 0.99}
    )
    assert [row["reference_tau"] for row in rows] == [0.1, 0.99]
    assert [row["above_reference"] for row in rows] == [True, False]
    report = predictor_report(rows)
    assert report["sizes"] == [10, 20]
    assert report["above_reference"] == [True, False]
    assert report["above_reference_at_every_size"] is False
    assert report["above_reference_at_every_size_by_kind"] == {"ridge_gbm": False}
    assert report["ridge_gbm_tau"] == [row["ridge_gbm_tau"] for row in rows]


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        ({"sizes": [1]}, "sizes", ">= 2"),
        ({"sizes": [100]}, "sizes", "largest size possible is 90"),
        ({"sizes": []}, "sizes", "non-empty"),
        ({"sizes": [10, 10]}, "sizes", "repeats"),
        ({"test": 1}, "test", ">= 2"),
        ({"seeds": 0}, "seeds", "positive"),
        ({"seeds": True}, "seeds", "positive"),
        ({"kinds": ["xgboost"]}, "kinds", "ridge_gbm"),
        ({"kinds": []}, "kinds", "non-empty"),
        ({"target": "log"}, "target", "rank"),
    ],
)
def test_bad_arguments_name_the_field(table, arguments: dict[str, Any], field: str, words: str) -> None:
    options = {"sizes": [10], "test": 60, "seeds": 1, "kinds": ["ridge_gbm"], **arguments}
    with pytest.raises(ConfigError) as error:
        predictor_curve(table, "acc", **options)
    assert error.value.field == field
    assert words in str(error.value)


def test_unknown_or_constant_metric(table) -> None:
    with pytest.raises(ConfigError, match="acc"):
        predictor_curve(table, "accuracy", sizes=[10], test=20, seeds=1)
    with pytest.raises(DataError, match="one value"):
        predictor_curve(table, "flat", sizes=[10], test=20, seeds=1)


def test_unknown_kind_lists_the_valid_ones(table) -> None:
    with pytest.raises(ConfigError) as error:
        predictor_curve(table, "acc", sizes=[10], test=20, seeds=1, kinds=["gbm", "svm"])
    assert error.value.allowed == predictors.predictor_kinds()
    assert "gbm" in str(error.value) and "mlp_ensemble" in str(error.value)


def test_reference_curve_reader(tmp_path: Path) -> None:
    path = _reference_csv(tmp_path / "summary.csv")
    assert read_reference_curve(path) == {10: 0.3221, 500: 0.8127}
    assert read_reference_curve(path, dataset="cifar100") == {10: 0.35}
    with pytest.raises(DataError, match="nasbench201/cifar10"):
        read_reference_curve(path, search_space="darts")
    broken = tmp_path / "broken.csv"
    broken.write_text("search_space,dataset,train_size,tau\nnasbench201,cifar10,10,0.3\n")
    with pytest.raises(DataError, match="kendalltau_mean") as error:
        read_reference_curve(broken)
    assert str(broken) in str(error.value)
    bad_value = tmp_path / "bad.csv"
    bad_value.write_text("search_space,dataset,train_size,kendalltau_mean\nnasbench201,cifar10,ten,0.3\n")
    with pytest.raises(DataError, match="row 1"):
        read_reference_curve(bad_value)
    with pytest.raises(DataError, match="does not exist"):
        read_reference_curve(tmp_path / "missing.csv")


def test_outputs_are_written(table, tmp_path: Path) -> None:
    rows = predictor_curve(table, "acc", sizes=(10, 20), test=40, seeds=2, kinds=["ridge_gbm"], reference={10: 0.5})
    paths = write_predictor_outputs(rows, tmp_path / "out")
    assert paths["csv"].name == "predictor_curve.csv" and paths["png"].name == "predictor_curve.png"
    with paths["csv"].open() as stream:
        written = list(csv.DictReader(stream))
    assert [int(row["train_size"]) for row in written] == [10, 20]
    assert float(written[0]["reference_tau"]) == 0.5 and written[1]["reference_tau"] == ""
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in paths["csv"].parent.iterdir() if p.name.startswith(".")]  # no temporary files left
    with pytest.raises(ConfigError):
        write_predictor_outputs([], tmp_path / "empty")


def test_ridge_boost_uses_count_columns() -> None:
    features = np.array([[1, 0, 3], [0, 1, 0], [1, 0, 2], [0, 1, 5]], dtype=float)
    assert count_columns(features) == [2]
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.integers(0, 2, 60), rng.integers(0, 7, 60), rng.integers(0, 7, 60)]).astype(float)
    y = 2 * x[:, 1] - x[:, 2] + 0.1 * rng.standard_normal(60)
    model = RidgeBoost(seed=0).fit(x[:40], y[:40])
    assert model.columns_ == [1, 2]
    assert np.corrcoef(model.predict(x[40:]), y[40:])[0, 1] > 0.95
    with pytest.raises(ConfigError, match="columns"):
        model.predict(x[:, :2])


def test_default_benchdata_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NAS_BENCHDATA", str(tmp_path))
    assert default_benchdata() == tmp_path
    monkeypatch.delenv("NAS_BENCHDATA")
    beside = REPO_ROOT.parent / "shared" / "benchdata"
    if beside.is_dir():
        assert default_benchdata() == beside
    else:  # a scratch clone: the data beside the repository it was cloned from
        assert default_benchdata().parent.parent == _local_origin(PROJECT_ROOT).parent


def test_local_origin_reads_the_clone_source_from_git_config(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (tmp_path / "clone" / ".git").mkdir(parents=True)
    (tmp_path / "clone" / ".git" / "config").write_text(f'[remote "origin"]\n\turl = {source}\n')
    assert _local_origin(tmp_path / "clone") == source
    (tmp_path / "clone" / ".git" / "config").write_text('[remote "origin"]\n\turl = https://example.com/x.git\n')
    assert _local_origin(tmp_path / "clone") is None


def test_predictor_action(tmp_path: Path, bench_actions: tuple[argparse.ArgumentParser, list[dict[str, Any]]]) -> None:
    path = _write_table(tmp_path / "toy.csv")
    reference = _reference_csv(tmp_path / "summary.csv")
    parser, reports = bench_actions
    defaults = parser.parse_args(["predictor"])
    assert defaults.table.endswith("nb201_cifar10.csv") and defaults.arch_columns == ["arch_str"]
    assert defaults.reference.endswith(REFERENCE_FILE) and defaults.out == "runs/bench/predictor"
    args = parser.parse_args(
        [
            "predictor",
            "--table", str(path),
            "--arch-columns", "depth", "width", "kernel",
            "--arch-format", "none",
            "--metric", "acc",
            "--sizes", "10", "20",
            "--test", "40",
            "--seeds", "2",
            "--kinds", "ridge_gbm",
            "--reference", str(reference),
            "--out", str(tmp_path / "out"),
            "--quiet",
        ]
    )  # fmt: skip
    assert args.func(args) == 0
    (report,) = reports
    assert report["sizes"] == [10, 20]
    assert report["reference_tau"] == [0.3221, None]
    assert report["above_reference"][0] is True and report["above_reference_at_every_size"] is False
    assert Path(report["csv"]).is_file() and Path(report["png"]).is_file()
    args = parser.parse_args(
        ["predictor", "--table", str(path), "--arch-columns", "depth", "width", "kernel", "--arch-format", "none",
         "--metric", "acc", "--sizes", "10", "--test", "20", "--seeds", "1", "--reference", "none",
         "--out", str(tmp_path / "o2"), "--quiet"]
    )  # fmt: skip
    args.func(args)
    assert reports[-1]["above_reference_at_every_size"] is None and reports[-1]["reference"] is None


def test_nb201_curve_on_the_published_table(benchdata: Path) -> None:
    table = read_arch_table(benchdata / "nb201_cifar10.csv", ["arch_str"], ["cifar10_test_acc"], arch_format="nb201")
    reference = read_reference_curve(benchdata / REFERENCE_FILE)
    assert sorted(reference) == [10, 15, 23, 36, 56, 87, 135, 209, 323, 500]
    assert reference[10] == pytest.approx(0.3221) and reference[500] == pytest.approx(0.8127)
    rows = predictor_curve(table, "cifar10_test_acc", sizes=(10, 56), test=100, seeds=2, reference=reference)
    assert [row["reference_tau"] for row in rows] == [reference[10], reference[56]]
    assert rows[0]["ridge_gbm_tau"] > 0.3  # op counts rank NB201 cells from 10 archs
    assert rows[1]["ridge_gbm_tau"] > 0.5
