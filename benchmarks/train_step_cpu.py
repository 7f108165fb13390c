"""CPU training step of ofa_mbv3: batch 32, resolution 128, a new random subnet each step, 2 threads.

Our step (channels_last activations and weights, foreach SGD) against a plain eager step of the same supernet
(contiguous NCHW, per-parameter SGD) measured in the same run, and against the original once-for-all figure on
this machine given in the issue (median 1.08 s per step; target >= 1.5x faster).

Run: bash .ci/venv python benchmarks/train_step_cpu.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import nas

ORIGINAL_S = 1.08
TARGET_SPEEDUP = 1.5
BATCH, RESOLUTION, STEPS, WARMUP = 32, 128, 12, 3


def measure(channels_last: bool, foreach: bool) -> float:
    torch.manual_seed(0)
    supernet = nas.create_supernet("ofa_mbv3", num_classes=1000).train()
    if channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9, nesterov=True, foreach=foreach)
    rng = random.Random(0)
    images = torch.randn(BATCH, 3, RESOLUTION, RESOLUTION)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (BATCH,))
    times = []
    for step in range(WARMUP + STEPS):
        arch = supernet.space.sample(rng)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        supernet.set_active(arch)
        F.cross_entropy(supernet(images), labels).backward()
        optimizer.step()
        if step >= WARMUP:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(2)
    baseline = measure(channels_last=False, foreach=False)
    ours = measure(channels_last=True, foreach=True)
    result = {
        "space": "ofa_mbv3",
        "batch": BATCH,
        "resolution": RESOLUTION,
        "steps": STEPS,
        "ours_median_s": round(ours, 3),
        "plain_eager_baseline_median_s": round(baseline, 3),
        "speedup_vs_baseline": round(baseline / ours, 2),
        "original_ofa_s": ORIGINAL_S,
        "speedup_vs_original": round(ORIGINAL_S / ours, 2),
        "target_speedup": TARGET_SPEEDUP,
        "met": ORIGINAL_S / ours >= TARGET_SPEEDUP,
    }
    path = record("train_step_cpu", result)
    print(
        f"ours {ours:.3f} s/step, plain eager {baseline:.3f} s/step, original OFA {ORIGINAL_S} s/step: "
        f"{ORIGINAL_S / ours:.2f}x (target {TARGET_SPEEDUP}x) -> {path}"
    )


if __name__ == "__main__":
    main()
