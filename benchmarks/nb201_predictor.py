"""Accuracy predictors on NAS-Bench-201 (CIFAR-10 test accuracy of all 15,625 cells) against NASLib's published
XGBoost curve: Kendall tau on 200 held-out cells by training-set size, 5 seeds each.

Our features are only the 6-edge x 5-op one-hot encoding; NASLib's XGBoost also had 13 zero-cost proxies. Train
and test cells are drawn at random (disjoint) from all 15,625 cells of ``../shared/benchdata/nb201_cifar10.csv``.

Run: bash .ci/venv python benchmarks/nb201_predictor.py
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import predictors

BENCHDATA = Path(os.environ.get("NAS_BENCHDATA", Path(__file__).resolve().parents[2] / "shared" / "benchdata"))
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
SIZES = (10, 15, 23, 36, 56, 87, 135, 209, 323, 500)
SEEDS = 5
TEST = 200


def encode(arch_str: str) -> list[float]:
    """One-hot of the op on each of the 6 edges of ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
    ops = [token.split("~")[0] for token in arch_str.replace("+", "").split("|") if token]
    if len(ops) != 6 or any(op not in OPS for op in ops):
        raise ValueError(f"not a NAS-Bench-201 cell: {arch_str!r}")
    return [1.0 if op == choice else 0.0 for op in ops for choice in OPS]


def main() -> None:
    torch.set_num_threads(2)
    rows = list(csv.DictReader((BENCHDATA / "nb201_cifar10.csv").open()))
    features = np.array([encode(r["arch_str"]) for r in rows])
    accuracy = np.array([float(r["cifar10_test_acc"]) for r in rows])
    published = {
        int(r["train_size"]): float(r["kendalltau_mean"])
        for r in csv.DictReader((BENCHDATA / "derived" / "naslib_xgb_zc_correlation_summary.csv").open())
        if r["search_space"] == "nasbench201" and r["dataset"] == "cifar10"
    }
    results = []
    for size in SIZES:
        taus: dict[str, list[float]] = {kind: [] for kind in predictors.predictor_kinds()}
        for seed in range(SEEDS):
            order = np.random.default_rng(seed).permutation(len(rows))
            train, test = order[:size], order[size : size + TEST]
            for kind in taus:
                model = predictors.create_predictor(kind, seed=seed).fit(features[train], accuracy[train])
                taus[kind].append(predictors.kendall_tau(accuracy[test], model.predict(features[test])))
        row = {"train_size": size, "naslib_xgb_tau": published.get(size)}
        for kind, values in taus.items():
            row[f"{kind}_tau"] = round(statistics.mean(values), 4)
            row[f"{kind}_tau_std"] = round(statistics.stdev(values), 4)
        best = max(row[f"{kind}_tau"] for kind in taus)
        row["best_above_naslib"] = row["naslib_xgb_tau"] is not None and best > row["naslib_xgb_tau"]
        results.append(row)
        print(row, flush=True)
    path = record(
        "nb201_predictor",
        {
            "test_archs": TEST,
            "seeds": SEEDS,
            "features": "one-hot 6x5",
            "results": results,
            "above_naslib_at_every_size": all(r["best_above_naslib"] for r in results),
        },
    )
    print("recorded in", path)


if __name__ == "__main__":
    main()
