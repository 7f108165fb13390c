"""Time the README's worked example end to end on the synthetic once-for-all w1.0 checkpoint.

The README's block imports a published supernet, profiles this machine, fits an accuracy predictor on DyNAS-T's real
ImageNet accuracies, searches under a latency budget and exports the pick. This script runs the same ``nas``
commands in a scratch folder, with the synthetic checkpoint (../shared/tools/ofa_synthetic_checkpoint.py, the
published file layout and pre-2020 keys) in place of the download and a generated 1,000-class image folder in place of
the user's ImageNet sample, and records each step's wall time. The latency budget is the median of the table's
predictions for the smallest and the largest 224-px subnet, so the search has to trade accuracy for speed.

Run: bash .ci/venv python benchmarks/ofa_import_flow.py [--keep DIR]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
NET = "ofa_mbv3_d234_e346_k357_w1.0"
TABLE = SHARED / "benchdata" / "ofa_imagenet" / "mbnv3w10_linasga_acc.csv"
IMAGES_PER_CLASS = 2
CLASSES = 1000
TRIALS = 2000
SMALLEST_224 = json.dumps({"wid": None, "ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": [224]})
LARGEST_224 = json.dumps({"wid": None, "ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": [224]})


def image_folder(root: Path, seed: int = 0) -> None:
    """``root/<class>/<i>.jpg``: ``IMAGES_PER_CLASS`` random JPEGs per class, of odd sizes around 300 px."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label in range(CLASSES):
        folder = root / f"n{label:08d}"
        folder.mkdir(parents=True)
        for index in range(IMAGES_PER_CLASS):
            height, width = (int(v) for v in rng.integers(240, 360, size=2))
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.jpg", quality=90)


def nas(*arguments: str, cwd: Path, json_out: bool = True) -> dict:
    """Run one ``nas`` command in ``cwd``; its JSON report."""
    command = [str(ROOT / ".venv" / "bin" / "nas"), *arguments, *(["--json"] if json_out else [])]
    print("$ nas " + shlex.join(arguments), flush=True)
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"nas {shlex.join(arguments)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(done.stdout) if json_out else {}


def run_flow(work: Path) -> dict:
    """The README's commands in ``work``, each step timed; returns the steps and what the flow produced."""
    steps: dict[str, float] = {}

    def timed(name: str, *arguments: str) -> dict:
        started = time.perf_counter()
        report = nas(*arguments, cwd=work)
        steps[name] = round(time.perf_counter() - started, 1)
        return report

    started = time.perf_counter()
    checkpoint = work / NET
    tool = SHARED / "tools" / "ofa_synthetic_checkpoint.py"
    subprocess.run([sys.executable, str(tool), "checkpoint", NET, str(checkpoint), "--legacy-keys"], check=True)
    image_folder(work / "imagenet-sample")
    setup_seconds = round(time.perf_counter() - started, 1)

    imported = timed("import", "import", "ofa", NET, "--net", NET)
    table = "runs/latency/this-cpu.json"
    profiled = timed("profile", "profile", "--space", "ofa_mbv3", "--validate", "20", "--out", table)
    predictions = nas("latency", "predict", table, "--arch", SMALLEST_224, LARGEST_224, cwd=work)
    fastest, slowest = predictions["predicted_ms"]
    budget = round((fastest + slowest) / 2, 1)
    fitted = timed(
        "predictor_fit",
        *("predictor", "fit", "--table", str(TABLE), "--space", "ofa_mbv3", "--target", "Top-1 Acc (%)"),
        *("--num-classes", "1000", "--out", "runs/predictors/top1"),
    )
    searched = timed(
        "search",
        *("search", "--predictor", "runs/predictors/top1", "--latency-table", table),
        *("--objectives", "accuracy", "latency", "--budget", f"latency={budget}", "--trials", str(TRIALS)),
        *("--no-ray", "--name", "w10-this-cpu"),
    )
    exported = timed(
        "export",
        *("export", "--supernet", imported["supernet_file"], "--arch", "runs/w10-this-cpu:0"),
        *("--data", "imagefolder", "--data-root", "imagenet-sample", "--resolution", "224"),
        *("--calibration-images", "2000", "--format", "onnx", "pytorch", "--out", "runs/exports/w10-this-cpu"),
    )
    return {
        "setup_seconds": setup_seconds,
        "steps_seconds": steps,
        "flow_seconds": round(sum(steps.values()), 1),
        "latency_budget_ms": budget,
        "latency_range_224_ms": [round(fastest, 2), round(slowest, 2)],
        "profile": {k: v for k, v in profiled.items() if k != "table"},
        "predictor": {k: fitted.get(k) for k in ("kind", "train_rows", "test_rows", "kendall_tau", "spearman")},
        "search": {k: v for k, v in searched.items() if k not in ("run", "front")},
        "export": {k: v for k, v in exported.items() if k not in ("out", "card")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="run in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        result = run_flow(args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="ofa-flow-") as folder:
            result = run_flow(Path(folder))
    result.update(
        checkpoint="synthetic w1.0 (published layout, pre-2020 keys), ../shared/tools/ofa_synthetic_checkpoint.py",
        data=f"generated image folder, {CLASSES} classes x {IMAGES_PER_CLASS} JPEGs",
        trials=TRIALS,
    )
    path = record("ofa_import_flow", result)
    steps = ", ".join(f"{name} {seconds} s" for name, seconds in result["steps_seconds"].items())
    print(f"flow {result['flow_seconds']} s ({steps}) -> {path}")


if __name__ == "__main__":
    main()
