"""Latency tables you can trust, quiet or busy: profile a space's table on this machine (optionally while another
CPU-bound process runs for the whole profiling), then measure 100 random subnets none of which the fit saw, end to
end in two rounds on the quiet machine, and compare four predictors against the measurements and the noise floor:

- the new latency model (``nas profile``'s choice among candidates by held-out error),
- the raw per-part sum,
- the old correction (``scale * raw + offset`` by least squares on the same calibration subnets),
- the noise floor (round 2 against round 1 of the same subnets).

Targets (issue 16): MAPE <= 1.5x the floor's and <= the raw sum's; Spearman >= 0.9x the floor's. Figures are at the
table's machine speed (the reference subnet timed between the others); the as-measured figures are recorded too.
Run: bash .ci/venv python benchmarks/latency_cpu.py --space ofa_mbv3_small --device cpu [--busy]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

from nas.profile.tables import profile_table, random_archs
from nas.profile.timers import create_timer
from nas.profile.validation import TARGETS, agreement, validate_table
from nas.supernet.latency import LatencyModel
from search_spaces import get_space


@contextlib.contextmanager
def busy(enabled: bool) -> Iterator[None]:
    """A CPU-bound process (a Python busy loop) for the duration of the block, when ``enabled``."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if enabled else None
    try:
        yield
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def figures(measured: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {name: round(value, 4) for name, value in agreement(measured, predicted).items()}


def reported(validation: dict[str, Any], prefix: str) -> dict[str, float]:
    """The agreement figures of one comparison in a validation report (keys ``prefix`` + mape, ...)."""
    return {name: round(validation[prefix + name], 4) for name in ("mape", "within_10pct", "kendall_tau", "spearman")}


def measure(space_name: str, device: str, threads: int, subnets: int, calibration: int, busy_profile: bool) -> dict:
    """Profile ``space_name``'s table (beside a CPU-bound process when ``busy_profile``) and validate it on
    ``subnets`` fresh subnets measured end to end on the quiet machine."""
    space = get_space(space_name)
    timer = create_timer(device, threads)
    started = time.perf_counter()
    with busy(busy_profile):
        table = profile_table(space, timer, 1, 1000, calibration, seed=0)
    profile_seconds = time.perf_counter() - started
    validation = validate_table(table, space, timer, subnets, seed=1)
    rows = validation.pop("rows")
    measured = np.array([row["measured_ms"] for row in rows])
    raw = np.array([row["raw_sum_ms"] for row in rows])
    calibration_raw = LatencyModel(table, space).raw(random_archs(space, calibration, 0))
    scale, offset = np.polyfit(calibration_raw, table.machine["calibration_ms"], 1)
    old = scale * raw + offset
    model, raw_figures, floor = (reported(validation, prefix) for prefix in ("", "raw_", "floor_"))
    result: dict[str, Any] = {
        "space": space.name,
        "device": device,
        "threads": threads,
        "profiled": "busy (one CPU-bound process running)" if busy_profile else "quiet",
        "validated": "quiet",
        "parts": len(table.entries),
        "profile_seconds": round(profile_seconds, 1),
        "remeasured_parts": len(table.machine.get("remeasured", {})),
        "reference_speed_range": table.machine["reference"]["speed_range"],
        "validation_speed": validation["speed"],
        "model": {"method": table.model.method, "note": table.model.note} if table.model else None,
        "subnets": subnets,
        "new_model": model,
        "raw_sum": raw_figures,
        "old_correction": {"scale": round(float(scale), 4), "offset_ms": round(float(offset), 4),
                           **figures(measured, old)},
        "noise_floor": floor,
        "as_measured": {"new_model": reported(validation, "as_measured_"),
                        "noise_floor": reported(validation, "as_measured_floor_")},
        "mape_over_floor": round(model["mape"] / floor["mape"], 3),
        "spearman_over_floor": round(model["spearman"] / floor["spearman"], 3),
        "targets": TARGETS,
        "targets_met": {
            "mape": model["mape"] <= min(TARGETS["mape_over_floor"] * floor["mape"], raw_figures["mape"]),
            "spearman": model["spearman"] >= TARGETS["spearman_over_floor"] * floor["spearman"],
        },
        "subnet_rows": rows,
    }  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="ofa_mbv3_small")
    parser.add_argument("--device", default="cpu", choices=["cpu", "onnxruntime"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--subnets", type=int, default=100, help="validation subnets (none used for the fit)")
    parser.add_argument("--calibration", type=int, default=40)
    parser.add_argument("--busy", action="store_true", help="profile while another CPU-bound process runs")
    args = parser.parse_args()
    result = measure(args.space, args.device, args.threads, args.subnets, args.calibration, args.busy)
    print({k: v for k, v in result.items() if k != "subnet_rows"}, flush=True)
    mode = "busy" if args.busy else "quiet"
    print("recorded in", record(f"latency_{args.device}_{result['space']}_{mode}", result))


if __name__ == "__main__":
    main()
