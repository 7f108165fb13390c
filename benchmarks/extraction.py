"""Subnet extraction time on CPU: the largest and random ofa_mbv3 subnets (1000 classes).

Baseline measured in the same run: the naive extraction once-for-all uses (build the static network with its
usual weight initialisation, then copy the active weights in). Ours builds on the meta device and assigns copies.
Published reference on this 2-core machine (issue): original once-for-all, median 40 ms random / 56 ms largest.

Run: bash .ci/venv python benchmarks/extraction.py
"""

from __future__ import annotations

import random
import statistics
import sys

import torch

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from common import median_ms, record

import nas
from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet
from nas.testing.supernet import randomize_

ORIGINAL_MS = {"largest": 56.0, "random": 40.0}
TARGET_MS = 8.0
PARITY_TOLERANCE = 1e-5
"""Largest logit difference allowed between a supernet and its extracted subnet (1000 fp32 logits)."""


def naive_extract(supernet: torch.nn.Module, arch: nas.Arch) -> torch.nn.Module:
    state = supernet.active_state_dict(arch)
    subnet = MobileNetV3Subnet(supernet.space, arch, supernet.num_classes, supernet.dropout_rate)
    subnet.load_state_dict(state, strict=True)
    return subnet


def parity(archs: int) -> dict:
    """The worst logit difference between the supernet and the subnet it extracts, for the largest and ``archs``
    seeded random ofa_mbv3 subnets (random weights and BN statistics, one random image at each resolution)."""
    supernet = randomize_(nas.create_supernet("ofa_mbv3", num_classes=1000), seed=0).eval()
    space = supernet.space
    rng = random.Random(0)
    worst = 0.0
    with torch.no_grad():
        for index, arch in enumerate([space.largest()] + [space.sample(rng) for _ in range(archs)]):
            side = int(arch["resolution"])
            images = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(index))
            supernet.set_active(arch)
            worst = max(worst, (supernet(images) - supernet.extract(arch)(images)).abs().max().item())
    return {"archs": archs, "max_abs_diff": worst, "tolerance": PARITY_TOLERANCE}


def main() -> None:
    torch.set_num_threads(2)
    supernet = nas.create_supernet("ofa_mbv3", num_classes=1000).eval()
    space = supernet.space
    rng = random.Random(0)
    randoms = [space.sample(rng) for _ in range(100)]
    results = {}
    for label, archs in (("largest", [space.largest()]), ("random", randoms)):
        ours, naive = [], []
        for arch in archs:
            repeats = 30 if label == "largest" else 3
            ours.append(median_ms(lambda a=arch: supernet.extract(a), repeats)[0])
            naive.append(median_ms(lambda a=arch: naive_extract(supernet, a), repeats)[0])
        results[label] = {
            "ours_median_ms": round(statistics.median(ours), 2),
            "naive_baseline_median_ms": round(statistics.median(naive), 2),
            "speedup_vs_naive": round(statistics.median(naive) / statistics.median(ours), 2),
            "original_ofa_ms": ORIGINAL_MS[label],
            "speedup_vs_original": round(ORIGINAL_MS[label] / statistics.median(ours), 2),
            "target_ms": TARGET_MS,
            "met": statistics.median(ours) <= TARGET_MS,
            "archs": len(archs),
        }
    path = record("extraction", {"space": "ofa_mbv3", "num_classes": 1000, "results": results, "parity": parity(100)})
    for label, row in results.items():
        print(
            f"{label:8s} ours {row['ours_median_ms']:6.2f} ms  naive {row['naive_baseline_median_ms']:6.2f} ms  "
            f"original {row['original_ofa_ms']} ms  target <= {TARGET_MS} ms  met={row['met']}"
        )
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
