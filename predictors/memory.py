"""Memory estimates of a network: weight storage, inference peak, MCUNet peak SRAM and the training footprint.

Every forward pass runs on a meta-device copy of the model (weights are never copied, only their shapes), so an
estimate needs no GPU, no real memory and leaves the caller's model untouched. Works on any ``nn.Module`` whose
forward runs on meta tensors (no ``.item()`` or other data-dependent control flow).
"""

from __future__ import annotations

import copy
import itertools
import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from search_spaces.errors import ConfigError, describe_choices

__all__ = [
    "DTYPES",
    "OPTIMIZER_STATE_FACTORS",
    "InferenceMemory",
    "McuMemory",
    "TrainingMemory",
    "dtype_name",
    "inference_memory",
    "inference_peak_bytes",
    "mcunet_memory",
    "mcunet_peak_bytes",
    "resolve_dtype",
    "training_memory",
    "weight_bytes",
]

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_DTYPE_ALIASES = {"fp64": "float64", "fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}

OPTIMIZER_STATE_FACTORS: dict[str, int] = {"sgd": 0, "sgd_momentum": 1, "adam": 2, "adamw": 2}
"""Optimizer state per trainable parameter, in multiples of the parameter's own bytes."""

# Leaf modules that an int8 deployment folds (batch norm) or fuses (activations, dropout) into the preceding layer.
_FUSABLE = (
    nn.modules.batchnorm._BatchNorm,
    nn.modules.dropout._DropoutNd,
    nn.Identity,
    nn.ReLU,
    nn.Hardtanh,  # ReLU6 is a Hardtanh
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.SiLU,
    nn.GELU,
    nn.Tanh,
    nn.LeakyReLU,
    nn.ELU,
    nn.Mish,
)


def resolve_dtype(dtype: str | torch.dtype, field: str = "dtype") -> torch.dtype:
    """The torch dtype for a name (``"float16"``, ``"bf16"``, ...) or a torch dtype; ConfigError otherwise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        name = _DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
        if name in DTYPES:
            return DTYPES[name]
    allowed = [*DTYPES, *_DTYPE_ALIASES]
    raise ConfigError(
        f"{field} must be a torch.dtype or one of {describe_choices(allowed)}, got {dtype!r}",
        field=field,
        value=dtype,
        allowed=allowed,
    )


def dtype_name(dtype: str | torch.dtype) -> str:
    """Canonical name of a dtype: ``torch.float32`` and ``"fp32"`` both give ``"float32"``."""
    return str(resolve_dtype(dtype)).removeprefix("torch.")


def weight_bytes(model: nn.Module, dtype: str | torch.dtype | None = None) -> dict[str, int]:
    """Bytes of the parameters and buffers, by dtype name, plus ``"total"``.

    With ``dtype``, every floating parameter and floating buffer is counted as stored in that dtype (e.g. ``"int8"``
    for a quantized deployment); integer tensors such as batch norm's ``num_batches_tracked`` keep their own dtype.
    Reads shapes and dtypes only, so the model may be on any device, meta included.
    """
    target = None if dtype is None else resolve_dtype(dtype)
    sizes: dict[str, int] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        stored = target if target is not None and tensor.is_floating_point() else tensor.dtype
        name = str(stored).removeprefix("torch.")
        sizes[name] = sizes.get(name, 0) + tensor.numel() * stored.itemsize
    sizes["total"] = sum(sizes.values())
    return sizes


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


@dataclass(frozen=True)
class McuMemory:
    """MCUNet peak SRAM of a network and the count at every layer, in forward order.

    Attributes:
        peak_bytes: the largest per-layer count.
        peak_layer: name of the layer where it occurs.
        layers: ``(name, bytes)`` for every layer; functional ops are named ``module:op``.
    """

    peak_bytes: int
    peak_layer: str
    layers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes resident during one training step, by kind; ``total_bytes`` is their sum.

    Attributes:
        weights_bytes: parameters.
        buffers_bytes: buffers (batch norm running statistics, ...).
        gradients_bytes: one gradient per trainable parameter.
        optimizer_state_bytes: optimizer state (momentum, Adam moments) of the trainable parameters.
        activations_bytes: tensors autograd saves for the backward pass (deduplicated by storage, parameters
            excluded, the input included when a layer saves it).
    """

    weights_bytes: int
    buffers_bytes: int
    gradients_bytes: int
    optimizer_state_bytes: int
    activations_bytes: int
    total_bytes: int


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
    shape = _check_shape(input_shape)
    target = resolve_dtype(dtype)
    compute = target if target.is_floating_point else torch.float32
    meta = _meta_copy(model, compute).eval()
    tracker = _LifetimeTracker(_storage_keys(meta), target.itemsize)
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


def mcunet_memory(
    model: nn.Module, input_shape: Sequence[int], bytes_per_element: int = 1, fuse_elementwise: bool = True
) -> McuMemory:
    """Peak SRAM of a network run layer by layer on a microcontroller, as MCUNet counts it.

    The rule (MCUNet, Lin et al., NeurIPS 2020, "peak SRAM"): while a layer runs, its input and output activations
    must both be in SRAM, together with every earlier activation that a later op still reads (the block input kept
    for a residual addition); the network's peak is the largest such sum over its layers. Every element takes
    ``bytes_per_element`` bytes (1 for int8). Weights live in flash and are not counted; neither is a kernel's
    scratch space.

    A *layer* is (a) a call of a leaf module (one without children) whose output is a new buffer, such as a
    convolution, linear layer or pooling (a flatten or reshape is a view and is no layer), or (b) an op called
    directly in a ``forward`` outside any leaf module that produces a new buffer (``out + x``, ``x * scale``,
    ``x.mean(...)``). With ``fuse_elementwise`` (the default), batch norm, activation, dropout and identity modules
    are folded or fused into the layer before them, as in the deployed int8 graph: their output reuses their
    input's buffer, unless that input is still read later, in which case they count as layers of their own.
    """
    shape = _check_shape(input_shape)
    if isinstance(bytes_per_element, bool) or not isinstance(bytes_per_element, int) or bytes_per_element < 1:
        raise ConfigError(
            f"bytes_per_element must be a positive integer, got {bytes_per_element!r}",
            field="bytes_per_element",
            value=bytes_per_element,
        )
    meta = _meta_copy(model, torch.float32).eval()
    recorder = _OpRecorder(_storage_keys(meta))
    removers = _record_leaf_calls(meta, recorder, fuse_elementwise)
    try:
        sample = torch.empty(shape, device="meta")
        recorder.input_keys = recorder.keys([sample])
        with torch.no_grad(), recorder:
            output = meta(sample)
        recorder.output_keys = recorder.keys(tree_leaves(output))
    finally:
        for remove in removers:
            remove()
    layers = tuple((name, elements * bytes_per_element) for name, elements in _mcunet_layers(recorder))
    if not layers:  # no op computes anything: the input and output are all there is
        elements = sum(recorder.elements[key] for key in {*recorder.input_keys, *recorder.output_keys})
        layers = (("<model>", elements * bytes_per_element),)
    name, peak = max(layers, key=lambda item: item[1])
    return McuMemory(peak_bytes=peak, peak_layer=name, layers=layers)


def mcunet_peak_bytes(
    model: nn.Module, input_shape: Sequence[int], bytes_per_element: int = 1, fuse_elementwise: bool = True
) -> int:
    """MCUNet peak SRAM in bytes (int8 by default); the rule and what a layer is: :func:`mcunet_memory`."""
    return mcunet_memory(model, input_shape, bytes_per_element, fuse_elementwise).peak_bytes


def training_memory(
    model: nn.Module,
    input_shape: Sequence[int],
    optimizer: str = "sgd_momentum",
    batch_size: int | None = None,
) -> TrainingMemory:
    """Bytes resident during a training step: weights, buffers, gradients, optimizer state, saved activations.

    Activations are what autograd saves for the backward pass of one train-mode forward (counted with
    ``saved_tensors_hooks`` on meta tensors, deduplicated by storage, parameters excluded). ``optimizer`` picks the
    state per trainable parameter (:data:`OPTIMIZER_STATE_FACTORS`: ``sgd`` none, ``sgd_momentum`` one copy,
    ``adam``/``adamw`` two); ``batch_size`` replaces ``input_shape[0]``. Transient buffers of the backward pass
    (activation gradients) and the allocator's rounding are not counted.
    """
    shape = _check_shape(input_shape)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f"batch_size must be a positive integer or None, got {batch_size!r}",
                field="batch_size",
                value=batch_size,
            )
        shape = (batch_size, *shape[1:])
    factor = OPTIMIZER_STATE_FACTORS.get(optimizer) if isinstance(optimizer, str) else None
    if factor is None:
        raise ConfigError(
            f"optimizer must be one of {describe_choices(OPTIMIZER_STATE_FACTORS)}, got {optimizer!r}",
            field="optimizer",
            value=optimizer,
            allowed=list(OPTIMIZER_STATE_FACTORS),
        )
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())

    meta = _meta_copy(model, None).train()
    excluded = _storage_keys(meta)
    saved: dict[int, int] = {}
    keep: list[torch.UntypedStorage] = []  # alive until the end, so no storage key is reused

    def pack(tensor: Tensor) -> Tensor:
        storage = _storage(tensor)
        if storage is not None and storage._cdata not in excluded and storage._cdata not in saved:
            saved[storage._cdata] = storage.nbytes()
            keep.append(storage)
        return tensor

    floating = [p.dtype for p in params if p.is_floating_point()]
    sample = torch.empty(shape, dtype=floating[0] if floating else torch.float32, device="meta")
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        meta(sample)
    activations = sum(saved.values())
    optimizer_state = factor * trainable
    return TrainingMemory(
        weights_bytes=weights,
        buffers_bytes=buffers,
        gradients_bytes=trainable,
        optimizer_state_bytes=optimizer_state,
        activations_bytes=activations,
        total_bytes=weights + buffers + trainable + optimizer_state + activations,
    )


# --- helpers -------------------------------------------------------------------------------------------------------


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """The input shape as a tuple of positive ints; ConfigError otherwise."""
    values = tuple(input_shape) if isinstance(input_shape, (tuple, list, torch.Size)) else ()
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values):
        raise ConfigError(
            f"input_shape must be a non-empty tuple of positive integers such as (1, 3, 224, 224), got {input_shape!r}",
            field="input_shape",
            value=input_shape,
        )
    return values


def _meta_copy(model: nn.Module, dtype: torch.dtype | None) -> nn.Module:
    """A deep copy of ``model`` whose parameters and buffers are empty meta tensors (floating ones cast to dtype).

    Pre-filling deepcopy's memo with the meta tensors means no weight is ever copied, and tied weights stay tied.
    """
    memo: dict[int, Any] = {}
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        cast = dtype if dtype is not None and tensor.is_floating_point() else tensor.dtype
        empty = torch.empty_like(tensor, dtype=cast, device="meta")
        memo[id(tensor)] = nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else empty
    return copy.deepcopy(model, memo)


def _storage(tensor: Tensor) -> torch.UntypedStorage | None:
    """The tensor's storage, or None for a tensor without one (sparse, nested, ...)."""
    try:
        return tensor.untyped_storage()
    except (NotImplementedError, RuntimeError):
        return None


def _storage_keys(model: nn.Module) -> set[int]:
    """Storage keys of the model's parameters and buffers: never counted as activations."""
    keys = set()
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        storage = _storage(tensor)
        if storage is not None:
            keys.add(storage._cdata)
    return keys


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
        storage = _storage(tensor)
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


@dataclass
class _LeafCall:
    """One call of a leaf module: its op range ``[start, end)`` in the trace and its input/output storages."""

    name: str
    fusable: bool
    start: int
    inputs: tuple[int, ...]
    end: int = -1
    outputs: tuple[int, ...] = ()


class _OpRecorder(TorchDispatchMode):
    """Records every aten op's input and output storages, and which ops run inside a leaf-module call."""

    def __init__(self, excluded: set[int]):
        super().__init__()
        self.excluded = excluded
        self.storages: list[torch.UntypedStorage] = []  # kept alive, so no storage key is reused
        self.elements: dict[int, int] = {}
        self.ops: list[tuple[str, tuple[int, ...], tuple[int, ...], bool]] = []  # name, inputs, outputs, in leaf
        self.module_stack: list[str] = []
        self.leaf_depth = 0
        self.calls: list[_LeafCall] = []
        self.op_modules: list[str] = []
        self.input_keys: tuple[int, ...] = ()
        self.output_keys: tuple[int, ...] = ()

    def keys(self, leaves: Iterable[Any]) -> tuple[int, ...]:
        """Activation storage keys of the tensors among ``leaves`` (parameters and buffers skipped)."""
        keys: list[int] = []
        for leaf in leaves:
            storage = _storage(leaf) if isinstance(leaf, Tensor) else None
            if storage is None or storage._cdata in self.excluded:
                continue
            key = storage._cdata
            if key not in self.elements:
                self.elements[key] = storage.nbytes() // leaf.element_size()
                self.storages.append(storage)
            if key not in keys:
                keys.append(key)
        return tuple(keys)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = self.keys(tree_leaves((args, kwargs)))
        self.ops.append((func.overloadpacket.__name__, inputs, self.keys(tree_leaves(out)), self.leaf_depth > 0))
        self.op_modules.append(self.module_stack[-1] if self.module_stack else "")
        return out


def _record_leaf_calls(model: nn.Module, recorder: _OpRecorder, fuse_elementwise: bool) -> list[Any]:
    """Hooks that log leaf-module calls and the running module into ``recorder``; returns their removers."""
    removers = []
    for name, module in model.named_modules():
        leaf = next(module.children(), None) is None
        fusable = fuse_elementwise and isinstance(module, _FUSABLE)

        def pre(_module: nn.Module, args: Any, name: str = name, leaf: bool = leaf, fusable: bool = fusable) -> None:
            recorder.module_stack.append(name)
            if leaf:
                recorder.leaf_depth += 1
                inputs = recorder.keys(tree_leaves(args))
                recorder.calls.append(_LeafCall(name, fusable, len(recorder.ops), inputs))

        def post(_module: nn.Module, _args: Any, output: Any, leaf: bool = leaf) -> None:
            recorder.module_stack.pop()
            if leaf:
                recorder.leaf_depth -= 1
                call = next(c for c in reversed(recorder.calls) if c.end < 0)
                call.end = len(recorder.ops)
                call.outputs = recorder.keys(tree_leaves(output))

        removers.append(module.register_forward_pre_hook(pre).remove)
        removers.append(module.register_forward_hook(post).remove)
    return removers


def _mcunet_layers(recorder: _OpRecorder) -> list[tuple[str, int]]:
    """Elements in SRAM at every layer of the recorded forward; the rule is in :func:`mcunet_memory`."""
    end_of_time = len(recorder.ops)
    first_seen: dict[int, int] = {}
    last_use: dict[int, int] = {}
    for index, (_name, inputs, outputs, _in_leaf) in enumerate(recorder.ops):
        for key in (*inputs, *outputs):
            first_seen.setdefault(key, index)
        for key in inputs:
            last_use[key] = index
    # The input and anything no op produced (seen by a hook only) exist from the start.
    allocated = {key: -1 if key in recorder.input_keys else first_seen.get(key, -1) for key in recorder.elements}
    last_use = {key: last_use.get(key, allocated[key]) for key in recorder.elements}
    for key in recorder.output_keys:
        last_use[key] = end_of_time

    # Buffers that a fused module writes in place of its input share one root.
    parent = {key: key for key in allocated}

    def root(key: int) -> int:
        while parent[key] != key:
            key = parent[key]
        return key

    def group_last_use(group_root: int) -> int:
        return max(last_use[k] for k in parent if root(k) == group_root)

    layer_calls: list[_LeafCall] = []
    for call in recorder.calls:
        new_outputs = [k for k in call.outputs if k not in call.inputs and call.start <= allocated[k] < call.end]
        if not call.fusable:
            if new_outputs:
                layer_calls.append(call)
            continue
        if not new_outputs:
            continue  # in place or a view: nothing to do
        if (
            len(call.inputs) == 1
            and len(new_outputs) == 1
            and recorder.elements[new_outputs[0]] == recorder.elements[call.inputs[0]]
            and group_last_use(root(call.inputs[0])) < call.end
        ):
            parent[root(new_outputs[0])] = root(call.inputs[0])
        else:  # its input is still needed later: it writes a buffer of its own, like any layer
            layer_calls.append(call)

    groups: dict[int, list[int]] = {}
    for key in allocated:
        groups.setdefault(root(key), []).append(key)
    spans = {
        group: (
            min(allocated[k] for k in members),
            max(last_use[k] for k in members),
            max(recorder.elements[k] for k in members),
        )
        for group, members in groups.items()
    }

    def count(end: int, touched: Iterable[int]) -> int:
        live = {root(k) for k in touched}
        live.update(g for g, (first, last, _size) in spans.items() if first < end and last >= end)
        return sum(spans[g][2] for g in live)

    entries: list[tuple[int, str, int]] = []
    for call in layer_calls:
        entries.append((call.start, call.name or "<model>", count(call.end, (*call.inputs, *call.outputs))))
    for index, (op, inputs, outputs, in_leaf) in enumerate(recorder.ops):
        new_outputs = [k for k in outputs if allocated[k] == index and k not in inputs]
        if not in_leaf and new_outputs:
            name = f"{recorder.op_modules[index] or '<model>'}:{op}"
            entries.append((index, name, count(index + 1, (*inputs, *outputs))))
    entries.sort(key=lambda entry: entry[0])
    return [(name, elements) for _start, name, elements in entries]
