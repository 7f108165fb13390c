"""A process that rewrites one file of every kind the platform saves, over and over, through the platform's own
writers, so a test can kill it in the middle of a write.

Usage: ``python -m tests.reliability.writer_process FOLDER``. Each round ``n`` writes a supernet checkpoint, a
latency table, an arch table as CSV, Parquet and JSON lines, a predictor folder and a JSON summary, each marked
with ``n`` where the format allows; ``FOLDER/ready`` appears once every file exists.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main(folder: Path) -> None:
    import nas
    from predictors import create_predictor
    from predictors.latency import LatencyTable
    from search_spaces.atomic import atomic_write_json
    from search_spaces.table import write_table

    torch.set_num_threads(1)
    folder.mkdir(parents=True, exist_ok=True)
    supernet = nas.create_supernet("ofa_mbv3_small", num_classes=10)
    rows = np.random.default_rng(0).random((40, 3))
    fitted = [
        create_predictor("gbm", feature_names=["a", "b", "c"], rounds=5, seed=seed).fit(rows, rows.sum(1) * (1 + seed))
        for seed in (0, 1)
    ]
    table = LatencyTable("ofa_mbv3_small", "cpu", 1, 10, {"name": "writer"})
    frame = pd.DataFrame({"arch": [f"a{i}" for i in range(5000)], "value": np.arange(5000.0)})
    round_number = 0
    while True:
        round_number += 1
        with torch.no_grad():
            supernet.classifier.bias.fill_(float(round_number))  # the round, readable back from the weights
        nas.save_supernet(supernet, folder / "supernet.pt")
        table.entries = {
            f"part{i}": {"median_ms": float(round_number), "iqr_ms": 0.0, "repeats": 1} for i in range(500)
        }
        table.save(folder / "latency.json")
        for suffix in ("csv", "parquet", "jsonl"):
            write_table(frame.assign(round=round_number), folder / f"table.{suffix}")
        fitted[round_number % 2].save(folder / "predictor")
        atomic_write_json(folder / "summary.json", {"round": round_number, "padding": list(range(20000))})
        if round_number == 1:
            (folder / "ready").touch()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
