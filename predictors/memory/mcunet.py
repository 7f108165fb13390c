"""MCUNet's peak SRAM: the memory a network needs when a microcontroller runs it layer by layer.

The rule (MCUNet, Lin et al., NeurIPS 2020, "peak SRAM"): while a layer runs, its input and output activations must
both be in SRAM, together with every earlier activation that a later op still reads (the block input kept for a
residual addition); the network's peak is the largest such sum over its layers. Weights live in flash and are not
counted; neither is a kernel's scratch space. What a layer is, and which modules an int8 deployment folds or fuses
into the layer before them, is spelled out in :func:`mcunet_memory`.

A dispatch mode records every aten op's input and output storages, and module hooks record which ops run inside a
leaf-module call; :func:`_mcunet_layers` then applies the rule to that trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from predictors.memory._meta import check_shape, meta_copy, storage_keys, storage_of
from search_spaces.errors import ConfigError

__all__ = ["McuMemory", "mcunet_memory", "mcunet_peak_bytes"]

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
    shape = check_shape(input_shape)
    if isinstance(bytes_per_element, bool) or not isinstance(bytes_per_element, int) or bytes_per_element < 1:
        raise ConfigError(
            f"bytes_per_element must be a positive integer, got {bytes_per_element!r}",
            field="bytes_per_element",
            value=bytes_per_element,
        )
    meta = meta_copy(model, torch.float32).eval()
    recorder = _OpRecorder(storage_keys(meta))
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
            storage = storage_of(leaf) if isinstance(leaf, Tensor) else None
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
