"""Latency table of ofa_mbv3 on this CPU (batch 1, resolutions 128-224): whole-table profiling time, then 100
random subnets (none used for the correction) measured end to end against the corrected table and the raw sum.

Targets: MAPE <= 5%, Spearman >= 0.95, profiling <= 15 minutes. Keep the machine otherwise idle while it runs.
Run: bash .ci/venv python benchmarks/latency_cpu.py [--threads 2] [--device cpu|onnxruntime]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

from nas.profile.tables import default_table_path, profile_table, validate_table
from nas.profile.timers import create_timer
from search_spaces import get_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "onnxruntime"])
    parser.add_argument("--space", default="ofa_mbv3")
    parser.add_argument("--subnets", type=int, default=100)
    args = parser.parse_args()
    space = get_space(args.space)
    timer = create_timer(args.device, args.threads)
    started = time.perf_counter()
    table = profile_table(space, timer, batch=1, num_classes=1000, calibration=40)
    profile_seconds = time.perf_counter() - started
    table.machine["profile_seconds"] = round(profile_seconds, 1)
    path = table.save(default_table_path(args.device, space.name, 1))
    validation = validate_table(table, space, timer, args.subnets, seed=1)
    rows = validation.pop("rows")
    summary = {k: round(v, 4) if isinstance(v, float) else v for k, v in validation.items()}
    print(summary, flush=True)
    result = record(
        f"latency_{args.device}_{space.name}_t{args.threads}",
        {
            "table": str(path),
            "parts": len(table.entries),
            "profile_seconds": round(profile_seconds, 1),
            "correction": table.correction.__dict__ if table.correction else None,
            **summary,
            "targets": {"mape": 0.05, "spearman": 0.95, "profile_seconds": 900},
            "targets_met": {
                "mape": summary["mape"] <= 0.05,
                "spearman": summary["spearman"] >= 0.95,
                "profile_seconds": profile_seconds <= 900,
            },
            "subnet_rows": rows,
        },
    )
    print("recorded in", result)


if __name__ == "__main__":
    main()
