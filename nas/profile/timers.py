"""Timing a module's forward pass on a device: eager PyTorch on the CPU (pinned threads) or a CUDA GPU (optionally a
replayed CUDA graph), and ONNX Runtime (the module exported to ONNX, run by an inference session).

A timer turns a module into a :class:`Runner`, which measures blocks of calls with ``torch.utils.benchmark`` (CUDA
work synchronised at block boundaries): the block size is chosen so the timer's own overhead is negligible, and each
block's mean per call is one sample. Samples are taken in *rounds*: a
module's timing is the median of its rounds' medians, so a stall of the machine spoils one round, not the result,
and :func:`~nas.profile.measurement.measure_in_rounds` interleaves the rounds of many modules so that one busy
moment never hits all the rounds of one module.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import platform
import statistics
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils import benchmark

from nas.profile.quantization import QUANTIZATION, quantize_int8
from search_spaces import ConfigError, Registry
from search_spaces.atomic import atomic_write_bytes
from search_spaces.checks import check_at_least, require

__all__ = [
    "DEVICES",
    "TIMERS",
    "CpuTimer",
    "CudaTimer",
    "OnnxRuntimeTimer",
    "Runner",
    "Timer",
    "Timing",
    "cpu_name",
    "create_timer",
    "pinned_threads",
    "raised_priority",
    "summarize",
]


@dataclass(frozen=True)
class Timing:
    """A module's forward time in milliseconds: the median of its rounds' medians, the interquartile range of all
    its samples, how many samples over how many rounds, and ``spread``, that median over the fastest round's (1.0:
    at least half the rounds agree with the fastest; a stall in fewer than half the rounds leaves it at 1.0, one in
    most of them raises it)."""

    median_ms: float
    iqr_ms: float
    repeats: int
    rounds: int = 1
    spread: float = 1.0

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def summarize(rounds: list[list[float]]) -> Timing:
    """The :class:`Timing` of samples (ms) grouped by round."""
    medians = [statistics.median(samples) for samples in rounds if samples]
    pooled = [sample for samples in rounds for sample in samples]
    quartiles = statistics.quantiles(pooled, n=4) if len(pooled) > 1 else [pooled[0]] * 3
    median = statistics.median(medians)
    spread = median / min(medians) if min(medians) > 0 else math.inf
    return Timing(median, quartiles[2] - quartiles[0], len(pooled), len(medians), spread)


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


PRIORITY_NICE = -20
"""The scheduling niceness measurements run at, where the OS permits it (Linux: root or CAP_SYS_NICE)."""


def _thread_ids() -> list[int]:
    """This process's threads (Linux), or just the process elsewhere (0: the caller)."""
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


@contextlib.contextmanager
def raised_priority(nice: int = PRIORITY_NICE) -> Iterator[int]:
    """Within the block, every thread of this process (also those started inside it) at scheduling niceness
    ``nice``, so that other processes yield the CPU to the measurement (with a CPU-bound process beside it, a
    2-thread subnet on 2 cores took 1.8-2.4x its quiet time at normal priority, 1.1-1.25x at -20). Yields the
    niceness reached: the previous one when raising is not permitted (then nothing changes)."""
    if not hasattr(os, "setpriority"):
        yield 0
        return
    previous = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        for tid in _thread_ids():
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        reached = nice
    except (PermissionError, ProcessLookupError):
        reached = previous
    try:
        yield reached
    finally:
        for tid in _thread_ids():
            with contextlib.suppress(PermissionError, ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, tid, previous)


def _reachable_nice() -> int:
    """The niceness :func:`raised_priority` reaches in this process."""
    with raised_priority() as reached:
        return reached


class Runner:
    """One callable (a module on its input, or an inference session on its feed), timed in blocks of calls by a
    ``torch.utils.benchmark.Timer``. The block size is found on the first call: enough calls that one block lasts
    about ``block_seconds`` (the timer's own overhead, some microseconds a block, stays negligible), or one call for a
    module slower than that."""

    def __init__(self, call: Callable[[], Any], threads: int, max_blocks: int):
        self._timer = benchmark.Timer(stmt="call()", globals={"call": call}, num_threads=threads)
        self._number = 0
        self._max_blocks = max_blocks

    @property
    def number(self) -> int:
        """Calls per block (0 until the first samples are taken)."""
        return self._number

    def samples(self, seconds: float, blocks: int) -> list[float]:
        """Per-call milliseconds of at least ``blocks`` blocks and ``seconds`` of timed calls (at most
        ``max_blocks`` blocks)."""
        if not self._number:
            fastest = min(self._timer.timeit(1).times[0] for _ in range(3))
            self._number = max(1, math.ceil(seconds / blocks / max(fastest, 1e-7)))
        samples: list[float] = []
        while len(samples) < self._max_blocks and (
            len(samples) < blocks or sum(samples) * self._number < seconds * 1e3
        ):
            samples.append(self._timer.timeit(self._number).times[0] * 1e3)
        return samples


class Timer(ABC):
    """Times ``module(input)`` for an input of a given shape; subclasses own the device.

    Args:
        warmup: untimed calls before the first round.
        min_repeats: timed blocks per module, at least, over all its rounds.
        max_repeats: timed blocks per round, at most.
        min_seconds: seconds of timed calls per module, at least, over all its rounds.
        rounds: how many rounds a module's samples are split into.
    """

    device: str

    def __init__(
        self,
        warmup: int = 5,
        min_repeats: int = 20,
        max_repeats: int = 300,
        min_seconds: float = 0.1,
        rounds: int = 5,
    ):
        check_at_least(warmup=(warmup, 0), min_repeats=(min_repeats, 3), min_seconds=(min_seconds, 0))
        require(max_repeats >= min_repeats, "max_repeats", max_repeats, f">= min_repeats={min_repeats}")
        check_at_least(rounds=(rounds, 1))
        self.warmup, self.min_repeats, self.max_repeats, self.min_seconds = (
            warmup,
            min_repeats,
            max_repeats,
            min_seconds,
        )
        self.rounds = rounds

    @property
    def round_seconds(self) -> float:
        return self.min_seconds / self.rounds

    @property
    def round_blocks(self) -> int:
        return max(1, math.ceil(self.min_repeats / self.rounds))

    @abstractmethod
    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        """A runner of ``module`` (eval mode, no autograd) on a random input of ``input_shape``, warmed up."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the timings were measured on (written into latency tables)."""

    def session(self) -> contextlib.AbstractContextManager[Any]:
        """The context every measurement of this timer runs in (pinned threads, no autograd)."""
        return contextlib.nullcontext()

    def time(self, module: nn.Module, input_shape: tuple[int, ...]) -> Timing:
        """Median forward time of ``module`` over :attr:`rounds` rounds of samples."""
        with self.session():
            runner = self.runner(module, input_shape)
            return summarize([runner.samples(self.round_seconds, self.round_blocks) for _ in range(self.rounds)])

    def _warm(self, call: Callable[[], Any]) -> Callable[[], Any]:
        for _ in range(self.warmup):
            call()
        return call


class CpuTimer(Timer):
    """Eager PyTorch on the CPU with ``threads`` intra-op threads pinned to as many cores."""

    device = "cpu"

    def __init__(self, threads: int | None = None, **options: Any):
        super().__init__(**options)
        self.threads = threads or torch.get_num_threads()
        with pinned_threads(self.threads) as cores:
            self.cores = cores
        self.nice = _reachable_nice()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with pinned_threads(self.threads), raised_priority(), torch.inference_mode():
            yield

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        module, sample = module.eval(), torch.randn(input_shape)
        return Runner(self._warm(lambda: module(sample)), self.threads, self.max_repeats)

    def describe(self) -> dict[str, Any]:
        return {
            "device": "cpu",
            "name": cpu_name(),
            "cores": os.cpu_count(),
            "threads": self.threads,
            "pinned_cores": self.cores,
            "nice": self.nice,
            "torch": torch.__version__,
            "rounds": self.rounds,
        }


class CudaTimer(Timer):
    """Eager PyTorch on a CUDA device (blocks synchronised by ``torch.utils.benchmark``); ``graphs=True`` replays a
    captured CUDA graph, which removes the Python and launch overhead that dominates small batches."""

    device = "cuda"

    def __init__(self, graphs: bool = False, index: int = 0, **options: Any):
        super().__init__(**options)
        if not torch.cuda.is_available():
            raise ConfigError("device='cuda' needs a CUDA GPU and none is visible", field="device", value="cuda")
        self.graphs = graphs
        self.torch_device = torch.device("cuda", index)
        self.nice = _reachable_nice()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with raised_priority(), torch.inference_mode():
            yield

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        module = module.eval().to(self.torch_device)
        sample = torch.randn(input_shape, device=self.torch_device)
        call: Callable[[], Any] = lambda: module(sample)  # noqa: E731
        if self.graphs:
            call = self._captured(module, sample)
        return Runner(self._warm(call), torch.get_num_threads(), self.max_repeats)

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
            "nice": self.nice,
            "torch": torch.__version__,
            "rounds": self.rounds,
        }


class OnnxRuntimeTimer(Timer):
    """The module exported to ONNX (opset 17) and run by ONNX Runtime's CPU provider with ``threads`` intra-op
    threads (sequential execution, full graph optimisation, no spin-waiting between runs: with hundreds of
    sessions alive while parts are interleaved, the idle sessions' spinning threads took the CPU from the one being
    timed, and parts' rounds disagreed 2x; without spinning they agree within 12 %, and on this 2-core VM a single
    session runs 25 % faster without it too)."""

    device = "onnxruntime"

    def __init__(self, threads: int | None = None, **options: Any):
        super().__init__(**options)
        import onnxruntime

        self.onnxruntime = onnxruntime
        self.threads = threads or torch.get_num_threads()
        with pinned_threads(self.threads) as cores:
            self.cores = cores
        self.nice = _reachable_nice()

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        with pinned_threads(self.threads), raised_priority():
            yield

    def inference_session(self, module: nn.Module, input_shape: tuple[int, ...]) -> Any:
        """An inference session for ``module`` at ``input_shape`` (exported in memory)."""
        return self._session(self.onnx_model(module, input_shape))

    def onnx_model(self, module: nn.Module, input_shape: tuple[int, ...]) -> bytes:
        """``module`` at ``input_shape`` as a serialized ONNX graph (opset 17, input ``input``)."""
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
        return buffer.getvalue()

    def _session(self, model: bytes | str) -> Any:
        options = self.onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self.onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return self.onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def runner(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        session = self.inference_session(module, input_shape)
        feed = {session.get_inputs()[0].name: torch.randn(input_shape).numpy()}
        return Runner(self._warm(lambda: session.run(None, feed)), self.threads, self.max_repeats)

    def describe(self) -> dict[str, Any]:
        return {
            "device": "onnxruntime",
            "name": f"{cpu_name()} (ONNX Runtime {self.onnxruntime.__version__}, CPUExecutionProvider)",
            "intra_op_spinning": False,
            "cores": os.cpu_count(),
            "threads": self.threads,
            "pinned_cores": self.cores,
            "nice": self.nice,
            "torch": torch.__version__,
            "rounds": self.rounds,
        }


class _Feeds:
    """A calibration data reader over an iterator of feeds."""

    def __init__(self, feeds: Iterator[dict[str, Any]]):
        self.feeds = feeds

    def get_next(self) -> dict[str, Any] | None:
        return next(self.feeds, None)


class OnnxRuntimeInt8Timer(OnnxRuntimeTimer):
    """As :class:`OnnxRuntimeTimer`, with every module quantized first the way ``nas export --format onnx-int8``
    quantizes a subnet (ONNX Runtime static quantization: QDQ, per-channel int8 weights, uint8 activations). The
    activation ranges are calibrated on random inputs of the module's shape: they set the scales, which change the
    values computed, not the int8 kernels run or their time."""

    device = "onnxruntime-int8"

    def onnx_model(self, module: nn.Module, input_shape: tuple[int, ...]) -> bytes:
        batches = iter([{"input": torch.randn(input_shape).numpy()} for _ in range(4)])
        with tempfile.TemporaryDirectory() as scratch:
            fp32, int8 = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
            atomic_write_bytes(fp32, super().onnx_model(module, input_shape))
            quantize_int8(fp32, int8, _Feeds(batches))
            return int8.read_bytes()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "device": self.device,
            "quantization": QUANTIZATION + ", ranges from random inputs",
        }


TIMERS: Registry[Callable[..., Timer]] = Registry("device")
TIMERS.add("cpu", lambda threads, cuda_graphs, **options: CpuTimer(threads, **options))
TIMERS.add("cuda", lambda threads, cuda_graphs, **options: CudaTimer(cuda_graphs, **options))
TIMERS.add("onnxruntime", lambda threads, cuda_graphs, **options: OnnxRuntimeTimer(threads, **options))
TIMERS.add("onnxruntime-int8", lambda threads, cuda_graphs, **options: OnnxRuntimeInt8Timer(threads, **options))
DEVICES = tuple(TIMERS.names())


def create_timer(device: str, threads: int | None = None, cuda_graphs: bool = False, **options: Any) -> Timer:
    """The timer for ``device`` (one of :data:`DEVICES`); ``threads`` for CPU runtimes, ``cuda_graphs`` for CUDA."""
    return TIMERS.get(device)(threads, cuda_graphs, **options)
