"""BN recalibration and subnet evaluation, with results cached on disk.

Weight sharing leaves batch-norm running statistics that fit no particular subnet, so every accuracy the platform
reports is measured after :func:`calibrate_bn` re-estimates them for the subnet on a fixed set of training images.
:func:`evaluate` does both on an extracted copy (the supernet is untouched) and caches the result keyed by
(checkpoint hash, arch, split, calibration size and batch), so predictor data sets and searches never evaluate a
subnet twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.data import DataSplits
from nas.training.losses import class_scores
from search_spaces import Arch, ConfigError, safe_json

__all__ = [
    "DEFAULT_BATCH",
    "EvalCache",
    "EvalResult",
    "calibrate_bn",
    "evaluate",
    "evaluate_splits",
    "file_digest",
    "resize",
]

SPLITS = ("train", "val", "test")
DEFAULT_BATCH = 256
"""Batch size of evaluation (and of BN recalibration unless another is given)."""


@dataclass(frozen=True)
class EvalResult:
    """Accuracy (0..1) and mean cross-entropy of a subnet on a split."""

    accuracy: float
    loss: float
    images: int


def resize(images: Tensor, resolution: int) -> Tensor:
    """Bilinearly resize a batch to ``resolution`` (no-op when it already has that size)."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)


@torch.no_grad()
def calibrate_bn(model: nn.Module, images: Tensor, batch_size: int = DEFAULT_BATCH) -> None:
    """Re-estimate every batch norm's running statistics as the exact average over ``images``."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average over all calibration batches
    was_training = model.training
    model.train()
    try:
        for start in range(0, len(images), batch_size):
            model(images[start : start + batch_size])
    finally:
        for module, momentum in zip(norms, saved):
            module.momentum = momentum
        model.train(was_training)


@torch.no_grad()
def score(model: nn.Module, images: Tensor, labels: Tensor, batch_size: int) -> EvalResult:
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(images), batch_size):
        logits = class_scores(model(images[start : start + batch_size])).float()
        target = labels[start : start + batch_size]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        correct += int((logits.argmax(1) == target).sum())
    count = len(images)
    return EvalResult(correct / count, loss_sum / count, count)


def evaluate(
    supernet: nn.Module,
    arch: Arch,
    data: DataSplits,
    split: str = "test",
    calibration_images: int = 512,
    batch_size: int = DEFAULT_BATCH,
    cache: EvalCache | None = None,
    device: torch.device | str = "cpu",
    calibration_batch: int | None = None,
) -> EvalResult:
    """Accuracy and loss of ``arch`` on ``split`` after BN recalibration on the first training images.

    The calibration set is the first ``calibration_images`` of the training split (a fixed, seeded order), at the
    arch's resolution, fed in batches of ``calibration_batch`` (default ``batch_size``; a batch norm's variance
    estimate depends on it), so the same call always gives the same answer. once-for-all recalibrates on 2,000
    images in batches of 200 (``nas eval``'s defaults).
    """
    return evaluate_splits(
        supernet, arch, data, (split,), calibration_images, batch_size, cache, device, calibration_batch
    )[split]


def evaluate_splits(
    supernet: nn.Module,
    arch: Arch,
    data: DataSplits,
    splits: tuple[str, ...] = ("val", "test"),
    calibration_images: int = 512,
    batch_size: int = DEFAULT_BATCH,
    cache: EvalCache | None = None,
    device: torch.device | str = "cpu",
    calibration_batch: int | None = None,
) -> dict[str, EvalResult]:
    """:func:`evaluate` on several splits with one extraction and one BN recalibration (cached splits are skipped)."""
    for name, value in (("calibration_images", calibration_images), ("calibration_batch", calibration_batch)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(
                f"{name} must be a positive integer, got {value!r}", field=name, value=value, allowed=">= 1"
            )
    for split in splits:
        if split not in SPLITS:
            raise ConfigError(f"split={split!r} not in {{{', '.join(map(repr, SPLITS))}}}", field="split", value=split)
    results: dict[str, EvalResult] = {}
    if cache is not None:
        for split in splits:
            hit = cache.get(cache.key(arch, split, calibration_images, calibration_batch or batch_size))
            if hit is not None:
                results[split] = hit
    missing = [split for split in splits if split not in results]
    if not missing:
        return results
    resolution = int(arch["resolution"])
    subnet = supernet.extract(arch).to(device)
    calibration = resize(data.train.images[:calibration_images].to(device), resolution)
    calibrate_bn(subnet, calibration, calibration_batch or batch_size)
    for split in missing:
        dataset = getattr(data, split)  # split is one of SPLITS, checked above
        result = score(subnet, resize(dataset.images.to(device), resolution), dataset.labels.to(device), batch_size)
        if cache is not None:
            cache.put(cache.key(arch, split, calibration_images, calibration_batch or batch_size), result)
        results[split] = result
    return results


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (the checkpoint part of an evaluation cache key)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class EvalCache:
    """Evaluation results of one checkpoint, appended to a JSON-lines file as they are computed.

    A line is only ever appended whole; a torn last line (from a killed process) is ignored on reading.
    """

    def __init__(self, path: str | os.PathLike[str], checkpoint_digest: str, data_name: str):
        self.path = Path(path)
        self.prefix = f"{checkpoint_digest[:16]}:{data_name}"
        self._entries: dict[str, EvalResult] = {}
        self._writable = True
        if self.path.is_file():
            for line in self.path.read_bytes().splitlines():
                try:
                    record = safe_json.loads(line)
                    self._entries[str(record["key"])] = EvalResult(**record["result"])
                except (ValueError, KeyError, TypeError):
                    continue

    def key(self, arch: Arch, split: str, calibration_images: int, calibration_batch: int = DEFAULT_BATCH) -> str:
        """The cache key of one evaluation; a calibration batch other than :data:`DEFAULT_BATCH` is part of it
        (the default is left out, so caches written before the batch was a choice stay valid)."""
        batch = "" if calibration_batch == DEFAULT_BATCH else f"/{calibration_batch}"
        return f"{self.prefix}:{arch.key}:{split}:{calibration_images}{batch}"

    def get(self, key: str) -> EvalResult | None:
        return self._entries.get(key)

    def put(self, key: str, result: EvalResult) -> None:
        """Remember ``result`` and append it to the file; a file that cannot be written (a read-only folder, a
        full disk) only costs the cache, with one warning."""
        self._entries[key] = result
        if not self._writable:
            return
        line = (json.dumps({"key": key, "result": asdict(result)}) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as stream:
                if stream.tell() and not _ends_with_newline(self.path):
                    line = b"\n" + line  # a torn last line stays on its own, unparseable, line
                stream.write(line)
        except OSError as exc:
            self._writable = False
            warnings.warn(f"evaluation cache {self.path} not written: {exc.strerror or exc}", stacklevel=2)

    def __len__(self) -> int:
        return len(self._entries)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as stream:
        stream.seek(-1, os.SEEK_END)
        return stream.read(1) == b"\n"
