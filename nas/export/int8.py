"""The ``onnx-int8`` export format: ONNX Runtime's static quantization of the subnet's ONNX graph.

The float32 graph is exported as for ``onnx``, then quantized by ``onnxruntime.quantization.quantize_static``:
QDQ format, int8 weights per output channel, uint8 activations whose ranges are calibrated (min-max) on training
images. The result, ``model.int8.onnx``, takes and returns float32 like the other artifacts. Quantization changes
the logits, so its parity is relative: the largest logit difference over the largest reference logit must stay
within :data:`INT8_RELATIVE_TOLERANCE`; the card records it with the accuracy of the int8 model on the test split
beside the float32 subnet's.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from nas.profile.quantization import quantize_int8

__all__ = ["INT8_FILE", "INT8_RELATIVE_TOLERANCE", "FormatData", "accuracy_of", "quantize_onnx", "relative_diff"]

INT8_FILE = "model.int8.onnx"
INT8_RELATIVE_TOLERANCE = 0.15
"""int8 parity: max |int8 - float32| over max |float32| of the logits (8-bit activations carry about 1 % of their
range per step; a dozen layers compound it)."""


@dataclass(frozen=True)
class FormatData:
    """What a format that calibrates or scores its artifact gets besides the parity images: training images for
    calibration, the test split to score on (all preprocessed, at the arch's resolution) and the float32 subnet's
    accuracy there."""

    calibration: Tensor
    test_images: Tensor
    test_labels: Tensor
    float_accuracy: float  # the float32 subnet's test accuracy, as the card records it


def relative_diff(output: Tensor, reference: Tensor) -> float:
    """max |output - reference| / max |reference| (NaN-safe: a NaN gives inf)."""
    scale = float(reference.abs().max()) or 1.0
    diff = float((output.float() - reference.float()).abs().max())
    return diff / scale if np.isfinite(diff) else float("inf")


class _Batches:
    """ONNX Runtime's calibration data reader over a tensor of images, ``batch`` at a time."""

    def __init__(self, images: Tensor, input_name: str, batch: int = 16):
        self._batches: Iterator[dict[str, np.ndarray]] = (
            {input_name: images[i : i + batch].numpy().astype(np.float32)} for i in range(0, len(images), batch)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_onnx(fp32: Path, out: Path, calibration: Tensor, input_name: str) -> None:
    """Quantize the float32 ONNX graph ``fp32`` into ``out`` (:func:`nas.profile.quantization.quantize_int8`, after
    ONNX Runtime's pre-processing), activation ranges calibrated on ``calibration``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_int8(prepared, out, _Batches(calibration, input_name))


def accuracy_of(run: Any, images: Tensor, labels: Tensor, batch: int = 256) -> float:
    """Top-1 accuracy of the runner ``run`` (images -> logits) on ``images``."""
    correct = 0
    for start in range(0, len(images), batch):
        logits = run(images[start : start + batch])
        correct += int((logits.argmax(1) == labels[start : start + batch]).sum())
    return correct / max(1, len(images))
