"""ONNX Runtime static int8 quantization as the platform applies it, to exported subnets (``nas export --format
onnx-int8``) and to the parts of int8 latency tables (``nas profile --device onnxruntime --int8``): QDQ format,
int8 weights per output channel, uint8 activations calibrated by min-max."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

__all__ = ["QUANTIZATION", "CalibrationBatches", "quantize_int8"]

QUANTIZATION = "ONNX Runtime static, QDQ, int8 weights per channel, uint8 activations (min-max)"


class CalibrationBatches(Protocol):
    """ONNX Runtime's calibration data reader: input feeds until None."""

    def get_next(self) -> dict[str, Any] | None: ...


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizer logs advice (pre-processing, bias initializers) on the root logger, once per
    graph: silence it below errors while quantizing."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_int8(fp32: Path, out: Path, batches: CalibrationBatches) -> None:
    """Quantize the float32 ONNX graph ``fp32`` into ``out``, activation ranges from ``batches``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    with _quiet_root_logger():
        quantize_static(
            str(fp32),
            str(out),
            batches,  # type: ignore[arg-type]
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            weight_type=QuantType.QInt8,
            activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
