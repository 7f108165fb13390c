"""Inference peak memory as eager PyTorch runs a forward: activation bytes alive at once, by tensor lifetimes.

A dispatch mode sees every op's output storage allocated and a finalizer sees it freed, so the count follows the
real lifetimes: residual inputs held for a later addition, in-place ops and views come out right. Parameters and
buffers, a kernel's scratch space (im2col, cuDNN workspaces) and the allocator's rounding are not counted.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from predictors.memory._meta import check_shape, meta_copy, storage_keys, storage_of
from predictors.memory.dtypes import resolve_dtype

__all__ = ["InferenceMemory", "inference_memory", "inference_peak_bytes"]


@dataclass(frozen=True)
class InferenceMemory:
    """Peak live activation bytes of one eval-mode forward, and where it happened.

    Attributes:
        peak_bytes: most activation bytes alive at once (input included, parameters and buffers excluded).
        peak_op: the aten op whose output allocation reached the peak (e.g. ``"relu"``).
        peak_module: dotted path of the innermost module running then (``"<model>"`` for the model itself).
        input_bytes: bytes of the input tensor.
    """

    peak_bytes: int
    peak_op: str
    peak_module: str
    input_bytes: int


def inference_memory(
    model: nn.Module, input_shape: Sequence[int], dtype: str | torch.dtype = torch.float32
) -> InferenceMemory:
    """Peak activation memory of one eval-mode, ``no_grad`` forward as eager PyTorch runs it.

    Every op's output storage is counted from its allocation until its last reference dies, so residual inputs
    held for a later addition, in-place ops (no new storage) and views (same storage, counted once) come out
    right. The input stays alive for the whole forward, as the caller holds it. Activations are counted at
    ``dtype``'s size; a non-floating ``dtype`` (``"int8"``) runs the float32 graph and counts it at 1 byte per
    element. Scratch space inside a kernel (im2col, cuDNN workspaces) and the allocator's rounding are not counted.
    """
    shape = check_shape(input_shape)
    target = resolve_dtype(dtype)
    compute = target if target.is_floating_point else torch.float32
    meta = meta_copy(model, compute).eval()
    tracker = _LifetimeTracker(storage_keys(meta), target.itemsize)
    removers = _track_module_stack(meta, tracker.module_stack)
    try:
        sample = torch.empty(shape, dtype=compute, device="meta")
        tracker.track(sample, "input")
        with torch.no_grad(), tracker:
            meta(sample)
    finally:
        tracker.close()
        for remove in removers:
            remove()
    return InferenceMemory(
        peak_bytes=tracker.peak,
        peak_op=tracker.peak_op,
        peak_module=tracker.peak_module,
        input_bytes=math.prod(shape) * target.itemsize,
    )


def inference_peak_bytes(model: nn.Module, input_shape: Sequence[int], dtype: str | torch.dtype = torch.float32) -> int:
    """Peak live activation bytes of one eval-mode forward; see :func:`inference_memory`."""
    return inference_memory(model, input_shape, dtype).peak_bytes


def _track_module_stack(model: nn.Module, stack: list[str]) -> list[Any]:
    """Hooks that keep ``stack`` holding the dotted names of the modules running now; returns their removers."""
    removers = []
    for name, module in model.named_modules():

        def push(_module: nn.Module, _args: Any, name: str = name) -> None:
            stack.append(name)

        def pop(_module: nn.Module, _args: Any, _output: Any) -> None:
            stack.pop()

        removers.append(module.register_forward_pre_hook(push).remove)
        removers.append(module.register_forward_hook(pop).remove)
    return removers


class _LifetimeTracker(TorchDispatchMode):
    """Counts live activation bytes: +size when an op allocates a storage, -size when that storage is freed."""

    def __init__(self, excluded: set[int], itemsize: int):
        super().__init__()
        self.excluded = excluded
        self.itemsize = itemsize
        self.live: dict[int, int] = {}
        self.finalizers: list[weakref.finalize] = []
        self.module_stack: list[str] = []
        self.current = 0
        self.peak = 0
        self.peak_op = ""
        self.peak_module = ""

    def track(self, tensor: Tensor, op: str) -> None:
        """Start counting the tensor's storage if it is new (not a view, in-place result or parameter)."""
        storage = storage_of(tensor)
        if storage is None:
            return
        key = storage._cdata
        if key in self.excluded or key in self.live:
            return
        size = storage.nbytes()
        if tensor.is_floating_point() and tensor.element_size() != self.itemsize:
            size = size // tensor.element_size() * self.itemsize
        self.live[key] = size
        self.current += size
        self.finalizers.append(weakref.finalize(storage, self._free, key))
        if self.current > self.peak:
            self.peak = self.current
            self.peak_op = op
            self.peak_module = (self.module_stack[-1] if self.module_stack else "") or "<model>"

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key)

    def close(self) -> None:
        """Detach the finalizers still pending, so that freeing the remaining tensors later costs nothing."""
        for finalizer in self.finalizers:
            finalizer.detach()
        self.finalizers.clear()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for leaf in tree_leaves(out):
            if isinstance(leaf, Tensor):
                self.track(leaf, func.overloadpacket.__name__)
        return out
