"""Every convolutional family searches and exports: a search of the space picks a front, and its first row is
exported in every format (``timm`` where the family has a timm form), each file loaded back and checked against the
supernet (the exporter's parity check), with the card's MACs and parameters equal to the extracted network's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

import nas
from nas.data import DataSplits, TensorImageDataset, load_dataset
from nas.export import FORMATS, export_subnet, load_subnet
from nas.search.config import ExecutionConfig
from nas.search.driver import SearchConfig, run_search
from nas.supernet.registry import family_of

SPACES = ("ofa_mbv3_w12", "ofa_proxyless_w13_small", "ofa_resnet50_small")
"""One space of each family with a once-for-all import: w1.2 at ImageNet resolutions, the others at 32 px."""


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # numbers, not speed: one thread is steadier on a loaded 2-core machine


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    """Digits cut to 64 training and 8 test images (each export resizes them to the subnet's resolution)."""
    full = load_dataset("digits")

    def cut(split: Any, count: int) -> TensorImageDataset:
        return TensorImageDataset(split.images[:count], split.labels[:count], split.mean, split.std)

    return replace(full, train=cut(full.train, 64), test=cut(full.test, 8))


@pytest.mark.slow
@pytest.mark.parametrize("name", SPACES)
def test_a_search_pick_exports_in_every_format_with_parity(name: str, tmp_path: Path, digits: DataSplits) -> None:
    supernet_path = tmp_path / "supernet.pt"
    nas.save_supernet(nas.create_supernet(name, num_classes=10), supernet_path)
    config = SearchConfig(
        objectives=["macs", "params"],
        space=name,
        trials=8,
        population=4,
        execution=ExecutionConfig(batch=4),
    )
    run = run_search(config, "search", tmp_path, progress=False).run_dir
    # every exact format: int8 changes the logits by design, and these random weights give some spaces
    # activation ranges 8 bits cannot hold (tests/nas/export/test_int8.py checks int8 within its tolerance)
    formats = sorted(
        fmt
        for fmt in FORMATS
        if FORMATS[fmt].relative_tolerance is None and (fmt != "timm" or family_of(name).timm_export is not None)
    )
    card = export_subnet(
        supernet_path, f"{run}:0", tmp_path / "pick", formats, digits, latency=False, calibration_images=64
    )
    assert card["space"] == name and sorted(card["formats"]) == formats
    assert all(card["parity"]["max_abs_diff"][fmt] <= 1e-4 for fmt in formats)
    model = load_subnet(tmp_path / "pick")
    assert isinstance(model, family_of(name).static_subnet)
    assert card["params"] == sum(p.numel() for p in model.parameters())
    assert card["macs"] == nas.load_supernet(supernet_path).macs(model.arch)
    assert card["search"]["rank"] == 0 and card["memory"]["inference_peak_bytes"] > 0
