"""Every command, end to end on digits, for the small-image spaces of the timm-built families.

For each space: ``nas train`` (sandwich rule with in-place distillation) on scikit-learn's digits, ``nas eval`` of
the largest and the smallest subnet on the test split, ``nas profile`` of this CPU's latency table, a ``nas search``
of loss against latency with supernet evaluations, and ``nas export`` of the first front member to pytorch, timm
and onnx with parity checked. Each seed is a separate run from scratch; the record keeps every run's figures and
mean, standard deviation and worst over seeds, in ``benchmarks/results/digits_flow_<space>.json``.

Run: bash .ci/venv python benchmarks/digits_family_flow.py [--spaces autoformer_t_small ...] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record, spread

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACES = ("autoformer_t_small", "timm_mobilenetv3_large_100_small")
DEFAULT_EPOCHS = {"autoformer_t_small": 20}
"""Training epochs where 8 is too few: the vision transformer learns digits slowly from scratch (a static timm ViT
of the largest shape reaches about 72 % test accuracy after 8 epochs with AdamW and 95 % after 14)."""


def nas(*arguments: str, cwd: Path) -> dict[str, Any]:
    """Run one ``nas`` command in ``cwd`` with ``--json``; its report (exits with stderr's tail on failure)."""
    command = [str(ROOT / ".venv" / "bin" / "nas"), *arguments, "--json"]
    print("$ nas " + shlex.join(arguments), flush=True)
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"nas {shlex.join(arguments)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout)


def run_flow(space: str, seed: int, epochs: int, trials: int, threads: int, work: Path) -> dict[str, Any]:
    """Train, evaluate, profile, search and export ``space`` on digits in ``work``; each step timed."""
    steps: dict[str, float] = {}

    def timed(step: str, *arguments: str) -> dict[str, Any]:
        started = time.perf_counter()
        report = nas(*arguments, cwd=work)
        steps[step] = round(time.perf_counter() - started, 1)
        return report

    run = f"{space}-s{seed}"
    common = ("--threads", str(threads))
    timed("train", "train", "--supernet", space, "--data", "digits", "--epochs", str(epochs), "--seed", str(seed),
          "--name", run, "--quiet", *common)  # fmt: skip
    supernet = str(work / "runs" / run / "supernet.pt")
    evaluated = timed("eval", "eval", "--supernet", supernet, "--arch", "largest", "smallest", "--split", "test")
    table = timed("profile", "profile", "--space", space, "--device", "cpu", "--batch", "1", "--out",
                  f"runs/latency/{run}.json", *common)  # fmt: skip
    table_file = table["table"]
    timed("search", "search", "--supernet", supernet, "--latency-table", str(table_file), "--objectives", "loss",
          "latency", "--trials", str(trials), "--name", f"{run}-search", "--seed", str(seed))  # fmt: skip
    exported = timed("export", "export", "--supernet", supernet, "--arch", f"runs/{run}-search:0", "--format",
                     "pytorch", "timm", "onnx", "--out", f"runs/{run}-pick")  # fmt: skip
    return {"seed": seed, "steps_s": steps, "eval": evaluated, "export": exported}


def _accuracies(report: dict[str, Any]) -> list[float]:
    """Test accuracies (percent) of the evaluated archs in ``nas eval``'s report, in order."""
    return [100 * float(row["accuracy"]) for row in report["results"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", nargs="+", default=list(DEFAULT_SPACES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="training epochs of every space (default 8; 20 for the ViT)")
    parser.add_argument("--trials", type=int, default=24, help="search trials (default 24)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", help="run in this folder and keep it (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.keep or scratch)
        work.mkdir(parents=True, exist_ok=True)
        for space in args.spaces:
            epochs = args.epochs or DEFAULT_EPOCHS.get(space, 8)
            runs: list[dict[str, Any]] = []
            for seed in args.seeds:  # recorded after every seed: an interrupted run keeps the seeds it finished
                runs.append(run_flow(space, seed, epochs, args.trials, args.threads, work))
                largest = [_accuracies(run["eval"])[0] for run in runs]
                smallest = [_accuracies(run["eval"])[1] for run in runs]
                result = {
                    "space": space,
                    "seeds": [run["seed"] for run in runs],
                    "threads": args.threads,
                    "epochs": epochs,
                    "trials": args.trials,
                    "runs": runs,
                    "largest_test_accuracy": spread(largest),
                    "smallest_test_accuracy": spread(smallest),
                    "total_s": spread([sum(run["steps_s"].values()) for run in runs], worst=max),
                }
                path = record(f"digits_flow_{space}", result)
                print(f"{space}: largest {largest}, smallest {smallest}; recorded {path}", flush=True)


if __name__ == "__main__":
    main()
