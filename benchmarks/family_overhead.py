"""Elastic families against their static timm models: training-step overhead and extraction time, on CPU.

For each space, the supernet's largest subnet is trained for one step (forward, backward, SGD update, train mode)
at the space's smallest resolution and compared, in the same run, with the static timm model extraction gives for
that same largest shape, trained the same way on the same batch, steps of the two alternating: the ratio is what
weight sharing costs per step (target <= 1.3x on CPU). Extraction is timed for the largest and for random
subnets. Seeds 0, 1 and 2 each build fresh weights and a fresh batch; the record keeps every seed's figures and
their mean, standard deviation and worst.

Run: bash .ci/venv python benchmarks/family_overhead.py [--spaces timm_efficientnet_b0 autoformer_t ...]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_ms, record

import nas
from nas.supernet.base import Supernet

DEFAULT_SPACES = (
    "timm_mobilenetv3_large_100",
    "timm_efficientnet_b0",
    "timm_fbnetv3_b",
    "timm_mnasnet_100",
    "timm_mobilenetv4_conv_small",
    "autoformer_t",
    "ofa_mbv3",
)
SEEDS = (0, 1, 2)
TARGET_RATIO = 1.3


def _train_step(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """One SGD step of ``model`` on the batch, as a closure to time."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    return step


def _interleaved_ms(first: Callable[[], None], second: Callable[[], None], repeats: int) -> tuple[float, float]:
    """Median milliseconds of ``first`` and ``second``, timed alternately (after two warm-up calls each) so that
    a change in the machine's speed touches both alike."""
    for _ in range(2):
        first()
        second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for call, kept in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            call()
            kept.append(1000 * (time.perf_counter() - started))
    return statistics.median(times[0]), statistics.median(times[1])


def _spread(values: list[float], worst: str) -> dict[str, float]:
    """Mean, standard deviation and worst (``max`` or ``min``) of per-seed figures."""
    pick = max if worst == "max" else min
    return {
        "mean": round(statistics.mean(values), 3),
        "std": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0,
        "worst": round(pick(values), 3),
    }


def measure(space_name: str, seed: int, batch: int, repeats: int) -> dict[str, Any]:
    """One seed's figures for one space, at its smallest resolution (the largest subnet's shape otherwise)."""
    torch.manual_seed(seed)
    supernet: Supernet = nas.create_supernet(space_name, num_classes=1000)
    space = supernet.space
    largest = space.largest()
    side = min(int(choice) for choice in next(d.choices for d in space.decisions() if d.label == "resolution"))
    images = torch.randn(batch, 3, side, side)
    labels = torch.randint(0, 1000, (batch,))
    supernet.train()
    supernet.set_active(largest)
    static = supernet.extract(largest).train()
    elastic_ms, static_ms = _interleaved_ms(
        _train_step(supernet, images, labels), _train_step(static, images, labels), repeats
    )
    supernet.eval()
    rng = random.Random(seed)
    randoms = [space.sample(rng) for _ in range(20)]
    largest_extract_ms = median_ms(lambda: supernet.extract(largest), 10, warmup=1)[0]
    random_extract_ms = statistics.median(median_ms(lambda a=arch: supernet.extract(a), 3, 1)[0] for arch in randoms)
    return {
        "seed": seed,
        "resolution": side,
        "static_class": type(static).__module__ + "." + type(static).__qualname__,
        "elastic_step_ms": round(elastic_ms, 1),
        "static_step_ms": round(static_ms, 1),
        "overhead_ratio": round(elastic_ms / static_ms, 3),
        "extract_largest_ms": round(largest_extract_ms, 2),
        "extract_random_median_ms": round(random_extract_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", nargs="+", default=list(DEFAULT_SPACES), help="spaces to measure")
    parser.add_argument("--batch", type=int, default=8, help="training batch (default 8)")
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per model, alternating (median; default 9)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {}
    for space_name in args.spaces:
        runs = [measure(space_name, seed, args.batch, args.repeats) for seed in SEEDS]
        ratios = [run["overhead_ratio"] for run in runs]
        results[space_name] = {
            "runs": runs,
            "overhead_ratio": _spread(ratios, "max"),
            "extract_largest_ms": _spread([run["extract_largest_ms"] for run in runs], "max"),
            "extract_random_median_ms": _spread([run["extract_random_median_ms"] for run in runs], "max"),
            "target_ratio": TARGET_RATIO,
            "met": max(ratios) <= TARGET_RATIO,
        }
        summary = results[space_name]
        print(
            f"{space_name}: step overhead {summary['overhead_ratio']['mean']:.2f}x "
            f"(worst {summary['overhead_ratio']['worst']:.2f}x), extraction largest "
            f"{summary['extract_largest_ms']['mean']:.1f} ms, "
            f"random {summary['extract_random_median_ms']['mean']:.1f} ms",
            flush=True,
        )
    path = record(
        "family_overhead",
        {"seeds": list(SEEDS), "threads": args.threads, "batch": args.batch, "num_classes": 1000, "results": results},
    )
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
