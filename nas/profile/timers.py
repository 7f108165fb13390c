"""Timing a module's forward pass on a device: CPU (pinned threads), CUDA (events, optional CUDA graph) and
ONNX Runtime (the module exported to ONNX, run by an inference session).

Every timer warms up, then repeats until it has at least ``min_repeats`` samples and ``min_seconds`` of them (or
``max_repeats``), and reports the median and interquartile range: latency distributions on shared machines have
long tails, so the mean would follow the noise.
"""

from __future__ import annotations

import contextlib
import io
import os
import platform
import statistics
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search_spaces import ConfigError, Registry
from search_spaces.checks import check_at_least, require

__all__ = [
    "DEVICES",
    "TIMERS",
    "CpuTimer",
    "CudaTimer",
    "OnnxRuntimeTimer",
    "Timer",
    "Timing",
    "cpu_name",
    "create_timer",
    "pinned_threads",
]


@dataclass(frozen=True)
class Timing:
    """Median and interquartile range of a forward pass, in milliseconds, over ``repeats`` samples."""

    median_ms: float
    iqr_ms: float
    repeats: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else the platform's processor string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def pinned_threads(threads: int) -> Iterator[list[int]]:
    """Within the block, use ``threads`` intra-op threads pinned to as many cores (where the OS allows it);
    restore the previous thread count and affinity afterwards. Yields the cores pinned to."""
    check_at_least(threads=(threads, 1))
    previous_threads = torch.get_num_threads()
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if allowed and threads > len(allowed):
        raise ConfigError(
            f"threads={threads} exceeds the {len(allowed)} cores this process may use", field="threads", value=threads
        )
    torch.set_num_threads(threads)
    if allowed:
        os.sched_setaffinity(0, allowed[:threads])
    try:
        yield allowed[:threads]
    finally:
        torch.set_num_threads(previous_threads)
        if allowed:
            os.sched_setaffinity(0, allowed)


class Timer(ABC):
    """Times ``module(input)`` for an input of a given shape; subclasses own the device."""

    device: str

    def __init__(self, warmup: int = 5, min_repeats: int = 20, max_repeats: int = 300, min_seconds: float = 0.1):
        check_at_least(warmup=(warmup, 0), min_repeats=(min_repeats, 3), min_seconds=(min_seconds, 0))
        require(max_repeats >= min_repeats, "max_repeats", max_repeats, f">= min_repeats={min_repeats}")
        self.warmup, self.min_repeats, self.max_repeats, self.min_seconds = (
            warmup,
            min_repeats,
            max_repeats,
            min_seconds,
        )

    @abstractmethod
    def time(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        """Median forward time of ``module`` (eval mode, no autograd) on a random input of ``input_shape``."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the timings were measured on (written into latency tables)."""

    def _repeat(self, sample_ms: Callable[[], float]) -> Timing:
        for _ in range(self.warmup):
            sample_ms()
        samples: list[float] = []
        while len(samples) < self.max_repeats:
            samples.append(sample_ms())
            if len(samples) >= self.min_repeats and sum(samples) >= self.min_seconds * 1e3:
                break
        quartiles = statistics.quantiles(samples, n=4)
        return Timing(statistics.median(samples), quartiles[2] - quartiles[0], len(samples))


class CpuTimer(Timer):
    """Eager PyTorch on the CPU with ``threads`` intra-op threads pinned to as many cores."""

    device = "cpu"

    def __init__(self, threads: int | None = None, **options: Any):
        super().__init__(**options)
        self.threads = threads or torch.get_num_threads()
        with pinned_threads(self.threads) as cores:
            self.cores = cores

    def time(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        module = module.eval()
        sample = torch.randn(input_shape)

        def once() -> float:
            start = time.perf_counter()
            module(sample)
            return (time.perf_counter() - start) * 1e3

        with pinned_threads(self.threads), torch.inference_mode():
            return self._repeat(once)

    def describe(self) -> dict[str, Any]:
        return {
            "device": "cpu",
            "name": cpu_name(),
            "cores": os.cpu_count(),
            "threads": self.threads,
            "pinned_cores": self.cores,
            "torch": torch.__version__,
        }


class CudaTimer(Timer):
    """Eager PyTorch on a CUDA device, timed with CUDA events; ``graphs=True`` replays a captured CUDA graph,
    which removes the Python and launch overhead that dominates small batches."""

    device = "cuda"

    def __init__(self, graphs: bool = False, index: int = 0, **options: Any):
        super().__init__(**options)
        if not torch.cuda.is_available():
            raise ConfigError("device='cuda' needs a CUDA GPU and none is visible", field="device", value="cuda")
        self.graphs = graphs
        self.torch_device = torch.device("cuda", index)

    def time(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        module = module.eval().to(self.torch_device)
        sample = torch.randn(input_shape, device=self.torch_device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.inference_mode():
            run: Callable[[], Any] = lambda: module(sample)  # noqa: E731
            if self.graphs:
                run = self._captured(module, sample)

            def once() -> float:
                start.record()
                run()
                end.record()
                end.synchronize()
                return start.elapsed_time(end)

            return self._repeat(once)

    def _captured(self, module: nn.Module, sample: torch.Tensor) -> Callable[[], Any]:
        side = torch.cuda.Stream(self.torch_device)
        side.wait_stream(torch.cuda.current_stream(self.torch_device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm up kernels and allocator on a side stream before capture
                module(sample)
        torch.cuda.current_stream(self.torch_device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            module(sample)
        return graph.replay

    def describe(self) -> dict[str, Any]:
        return {
            "device": "cuda",
            "name": torch.cuda.get_device_name(self.torch_device),
            "cuda": torch.version.cuda,
            "cuda_graphs": self.graphs,
            "torch": torch.__version__,
        }


class OnnxRuntimeTimer(Timer):
    """The module exported to ONNX (opset 17) and run by ONNX Runtime's CPU provider with ``threads`` threads."""

    device = "onnxruntime"

    def __init__(self, threads: int | None = None, **options: Any):
        super().__init__(**options)
        import onnxruntime

        self.onnxruntime = onnxruntime
        self.threads = threads or torch.get_num_threads()
        with pinned_threads(self.threads) as cores:
            self.cores = cores

    def session(self, module: nn.Module, input_shape: tuple[int, ...]) -> Any:
        """An inference session for ``module`` at ``input_shape`` (exported in memory)."""
        buffer = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module.eval(),
                (torch.randn(input_shape),),
                buffer,
                input_names=["input"],
                dynamo=False,
                opset_version=17,
            )
        options = self.onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return self.onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])

    def time(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        session = self.session(module, input_shape)
        feed = {"input": torch.randn(input_shape).numpy()}

        def once() -> float:
            start = time.perf_counter()
            session.run(None, feed)
            return (time.perf_counter() - start) * 1e3

        with pinned_threads(self.threads):
            return self._repeat(once)

    def describe(self) -> dict[str, Any]:
        return {
            "device": "onnxruntime",
            "name": f"{cpu_name()} (ONNX Runtime {self.onnxruntime.__version__}, CPUExecutionProvider)",
            "cores": os.cpu_count(),
            "threads": self.threads,
            "pinned_cores": self.cores,
            "torch": torch.__version__,
        }


TIMERS: Registry[Callable[..., Timer]] = Registry("device")
TIMERS.add("cpu", lambda threads, cuda_graphs, **options: CpuTimer(threads, **options))
TIMERS.add("cuda", lambda threads, cuda_graphs, **options: CudaTimer(cuda_graphs, **options))
TIMERS.add("onnxruntime", lambda threads, cuda_graphs, **options: OnnxRuntimeTimer(threads, **options))
DEVICES = tuple(TIMERS.names())


def create_timer(device: str, threads: int | None = None, cuda_graphs: bool = False, **options: Any) -> Timer:
    """The timer for ``device`` (one of :data:`DEVICES`); ``threads`` for CPU runtimes, ``cuda_graphs`` for CUDA."""
    return TIMERS.get(device)(threads, cuda_graphs, **options)
