"""Accuracy predictors on NAS-Bench-201 (CIFAR-10 test accuracy of all 15,625 cells) against NASLib's published
XGBoost curve: Kendall tau and Spearman on 200 held-out cells by training-set size, 5 seeds each.

The same as ``nas bench predictor`` with its defaults: features are the ``nb201`` space's encoding (one-hot edges,
per-op counts on all edges and on live paths), targets the training cells' ranks, kinds ``ridge_gbm`` and ``gbm``.
NASLib's XGBoost also had 13 zero-cost proxies per cell (which exist for 725 cells only).

Run: bash .ci/venv python benchmarks/nb201_predictor.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

from nas.tabular.benchdata import default_benchdata
from nas.tabular.predictor import REFERENCE_FILE, predictor_curve, predictor_report, read_reference_curve
from search_spaces.table import read_arch_table


def measure(progress: bool = False) -> dict:
    """The predictor curve on NAS-Bench-201 with the recorded settings (200 held-out cells, 5 seeds)."""
    data = default_benchdata()
    table = read_arch_table(data / "nb201_cifar10.csv", ["arch_str"], ["cifar10_test_acc"], "nb201")
    reference = read_reference_curve(data / REFERENCE_FILE)
    started = time.perf_counter()
    rows = predictor_curve(table, "cifar10_test_acc", reference=reference, progress=progress)
    seconds = time.perf_counter() - started
    return {"test_archs": 200, "seeds": 5, "seconds": round(seconds, 1), "results": rows, **predictor_report(rows)}


def main() -> None:
    result = measure(progress=True)
    for row in result["results"]:
        print(row, flush=True)
    print("recorded in", record("nb201_predictor", result))


if __name__ == "__main__":
    main()
