"""GPU training throughput of ofa_mbv3 at resolution 224: random subnet per step and largest subnet, img/s and
peak memory (torch.cuda.max_memory_allocated), at batch 128 and 256, bf16 autocast and channels-last.

Baseline in the same run: the same step in fp32 without channels-last. Reference from the issue (one H100, the
original once-for-all, PyTorch 2.11): 1,806 img/s random subnet, 912 img/s largest; target >= 3x.
Imports neither optuna nor ray, so it runs on the lent GPU machines as they are.

Run: python benchmarks/train_throughput_gpu.py            (on a GPU machine)
     python benchmarks/train_throughput_gpu.py --smoke    (tiny CPU run, checks the script only; records nothing)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import record

import nas

REFERENCE_IMG_S = {"random": 1806.0, "largest": 912.0}
TARGET_SPEEDUP = 3.0


def throughput(batch: int, which: str, fast: bool, device: torch.device, steps: int, resolution: int) -> dict:
    torch.manual_seed(0)
    supernet = nas.create_supernet("ofa_mbv3", num_classes=1000).to(device).train()
    if fast:
        supernet = supernet.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9, nesterov=True, foreach=True)
    images = torch.randn(batch, 3, resolution, resolution, device=device)
    if fast:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 1000, (batch,), device=device)
    rng = random.Random(0)
    use_bf16 = fast and device.type == "cuda"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> None:
        supernet.set_active(supernet.space.largest() if which == "largest" else supernet.space.sample(rng))
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = F.cross_entropy(supernet(images).float(), labels)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"images_per_s": round(batch * steps / seconds, 1), "peak_memory_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run to check the script; records nothing")
    args = parser.parse_args()
    if args.smoke:
        device, batches, steps, resolution = torch.device("cpu"), (2,), 1, 64
    elif torch.cuda.is_available():
        device, batches, steps, resolution = torch.device("cuda"), (128, 256), 20, 224
    else:
        sys.exit("no GPU here: run on a GPU machine, or pass --smoke to check the script")
    rows = []
    for batch in batches:
        for which in ("random", "largest"):
            fast = throughput(batch, which, True, device, steps, resolution)
            plain = throughput(batch, which, False, device, steps, resolution)
            rows.append(
                {
                    "batch": batch,
                    "subnet": which,
                    **fast,
                    "fp32_baseline_images_per_s": plain["images_per_s"],
                    "speedup_vs_baseline": round(fast["images_per_s"] / plain["images_per_s"], 2),
                    "reference_images_per_s": REFERENCE_IMG_S[which],
                    "speedup_vs_reference": round(fast["images_per_s"] / REFERENCE_IMG_S[which], 2),
                    "met": fast["images_per_s"] >= TARGET_SPEEDUP * REFERENCE_IMG_S[which],
                }
            )
            print(rows[-1])
    if not args.smoke:
        print("recorded in", record("train_throughput_gpu", {"resolution": resolution, "results": rows}))


if __name__ == "__main__":
    main()
