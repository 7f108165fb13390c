"""Latency of an exported subnet on this CPU at batch 1: PyTorch eager, and ONNX Runtime on the written
``model.onnx`` and ``model.int8.onnx`` themselves (medians of rounds of timed blocks, pinned threads, by
:mod:`nas.profile.timers`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from nas.export.formats import ONNX_FILE
from nas.export.int8 import INT8_FILE
from nas.profile.timers import CpuTimer, OnnxRuntimeTimer, Timing, cpu_name

__all__ = ["measure_latency"]


class _OnnxFileTimer(OnnxRuntimeTimer):
    """ONNX Runtime timing of a written ``model.onnx`` (the module passed to :meth:`time` is not re-exported)."""

    def __init__(self, path: Path, threads: int | None = None, **options: Any):
        super().__init__(threads, **options)
        self.path = path

    def inference_session(self, module: nn.Module, input_shape: tuple[int, ...]) -> Any:
        return self._session(str(self.path))


def _timing(timing: Timing) -> dict[str, Any]:
    return {"median_ms": round(timing.median_ms, 4), "iqr_ms": round(timing.iqr_ms, 4), "repeats": timing.repeats}


def measure_latency(subnet: nn.Module, resolution: int, folder: Path, threads: int | None = None) -> dict[str, Any]:
    """Batch-1 medians of ``subnet`` in eager PyTorch and, for each of ``model.onnx`` and ``model.int8.onnx`` that
    ``folder`` holds, in ONNX Runtime."""
    shape = (1, 3, resolution, resolution)
    timer = CpuTimer(threads)

    def onnx_timing(name: str) -> dict[str, Any] | None:
        path = folder / name
        return _timing(_OnnxFileTimer(path, threads).time(subnet, shape)) if path.is_file() else None

    return {
        "batch": 1,
        "threads": timer.threads,
        "cpu": cpu_name(),
        "pytorch": _timing(timer.time(subnet, shape)),
        "onnxruntime": onnx_timing(ONNX_FILE),
        "onnxruntime_int8": onnx_timing(INT8_FILE),
    }
