"""Spikes counted on real data: per synaptic layer and step, the input spikes and the exact synaptic operations,
from which firing rates, SynOps and energy follow; and the comparison with an ANN of the same shape.

The rate model (firing rate x synapses) and the exact count (convolving the actual spike maps with a kernel of
ones) are defined in :mod:`nas.supernet.families.spiking.costs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.layers.temporal import ElasticConv2d, centre_crop
from nas.supernet.families.spiking.costs import DEFAULT_COSTS, EnergyCosts
from nas.supernet.families.spiking.shapes import in_bounds_taps, layer_shapes, out_size
from search_spaces import Arch, ConfigError, SpikingResNetSpace

__all__ = ["SpikeCounts", "ann_comparison", "record_spikes", "training_activation_bytes"]


@dataclass
class SpikeCounts:
    """Per synaptic layer and step: input nonzeros and exact synaptic operations, summed over images."""

    names: list[str] = field(default_factory=list)
    binary: list[bool] = field(default_factory=list)  # the layer's input was spikes (else: real values, MACs)
    macs: list[int] = field(default_factory=list)  # dense MACs per image and step
    synapses: list[int] = field(default_factory=list)  # connections inside the maps, per image and step
    inputs: list[int] = field(default_factory=list)  # input elements per image and step
    nonzero: list[Tensor] = field(default_factory=list)  # [T] summed over images
    exact: list[Tensor] = field(default_factory=list)  # [T] summed over images
    images: int = 0

    def _check(self, timesteps: int) -> None:
        if any(n is None for n in self.nonzero):
            raise ConfigError("no spikes were recorded: run the model inside record_spikes()", field="timesteps")
        available = self.nonzero[0].numel()
        if not 1 <= timesteps <= available:
            raise ConfigError(
                f"timesteps={timesteps} but spikes were recorded for {available}", field="timesteps", value=timesteps
            )

    def firing_rates(self, timesteps: int) -> dict[str, float]:
        """Mean fraction of nonzero inputs per spiking layer over the first ``timesteps`` steps."""
        self._check(timesteps)
        return {
            name: float(nonzero[:timesteps].sum()) / (self.images * inputs * timesteps)
            for name, binary, inputs, nonzero in zip(self.names, self.binary, self.inputs, self.nonzero)
            if binary
        }

    def mean_firing_rate(self, timesteps: int) -> float:
        """Spikes per neuron-step over every layer's input spikes (weighted by layer size)."""
        self._check(timesteps)
        spikes = sum(float(n[:timesteps].sum()) for b, n in zip(self.binary, self.nonzero) if b)
        slots = sum(i for b, i in zip(self.binary, self.inputs) if b) * self.images * timesteps
        return spikes / max(slots, 1)

    def mac_ops(self, timesteps: int) -> float:
        """Dense MACs per image of the layers fed real values, over ``timesteps`` steps."""
        self._check(timesteps)
        return float(sum(m for b, m in zip(self.binary, self.macs) if not b)) * timesteps

    def synops(self, timesteps: int, exact: bool = False) -> float:
        """Accumulates per image over ``timesteps`` steps: rate model (default) or the exact count."""
        self._check(timesteps)
        total = 0.0
        for binary, synapses, inputs, nonzero, counted in zip(
            self.binary, self.synapses, self.inputs, self.nonzero, self.exact
        ):
            if not binary:
                continue
            if exact:
                total += float(counted[:timesteps].sum())
            else:
                total += float(nonzero[:timesteps].sum()) / inputs * synapses
        return total / self.images

    def energy_pj(self, timesteps: int, costs: EnergyCosts = DEFAULT_COSTS, exact: bool = False) -> float:
        """Energy per image in picojoules."""
        return self.mac_ops(timesteps) * costs.mac_pj + self.synops(timesteps, exact) * costs.ac_pj


def _is_binary(x: Tensor) -> bool:
    """A spike train: zeros and one other value (1, or a converted SNN's spike amplitude)."""
    events = x[x != 0]
    return events.numel() == 0 or bool((events == events[0]).all())


def _conv_hook(counts: SpikeCounts, index: int, module: ElasticConv2d):
    def hook(_: nn.Module, args: tuple[Tensor, ...], __: Tensor) -> None:
        x = args[0].detach()
        steps, batch, channels, height, width = x.shape
        out_channels, kernel, stride = module.active_out, module.active_kernel, module.stride
        out_h, out_w = out_size(height, stride), out_size(width, stride)
        nonzero = (x != 0).to(torch.float32)
        ones = centre_crop(torch.ones_like(module.conv.weight[:1, :channels]), kernel).to(torch.float32)
        reach = F.conv2d(nonzero.flatten(0, 1), ones, None, stride, kernel // 2)
        _accumulate(
            counts,
            index,
            binary=_is_binary(x),
            macs=out_channels * channels * kernel * kernel * out_h * out_w,
            synapses=out_channels
            * channels
            * in_bounds_taps(height, kernel, stride)
            * in_bounds_taps(width, kernel, stride),
            inputs=channels * height * width,
            nonzero=nonzero.sum((1, 2, 3, 4)),
            exact=reach.unflatten(0, (steps, batch)).sum((1, 2, 3, 4)) * out_channels,
            batch=batch,
        )

    return hook


def _head_hook(counts: SpikeCounts, index: int, classes: int):
    def hook(_: nn.Module, __: tuple[Tensor, ...], spikes: Tensor) -> None:
        spikes = spikes.detach()
        batch = spikes.shape[1]
        nonzero = (spikes != 0).to(torch.float32).sum((1, 2, 3, 4))
        elements = spikes[0, 0].numel()
        dense = elements * classes
        _accumulate(counts, index, True, dense, dense, elements, nonzero, nonzero * classes, batch)

    return hook


def _accumulate(
    counts: SpikeCounts,
    index: int,
    binary: bool,
    macs: int,
    synapses: int,
    inputs: int,
    nonzero: Tensor,
    exact: Tensor,
    batch: int,
) -> None:
    """Add one batch's counts to layer ``index`` (hooks fire in execution order, not in layer order)."""
    if index == 0:
        counts.images += batch
    if counts.nonzero[index] is None:
        counts.binary[index], counts.macs[index], counts.inputs[index] = binary, macs, inputs
        counts.synapses[index] = synapses
        counts.nonzero[index], counts.exact[index] = nonzero.cpu(), exact.cpu()
        return
    counts.nonzero[index] = counts.nonzero[index] + nonzero.cpu()
    counts.exact[index] = counts.exact[index] + exact.cpu()
    counts.binary[index] = counts.binary[index] and binary


@contextmanager
def record_spikes(model: nn.Module) -> Iterator[SpikeCounts]:
    """Count the input spikes of every synaptic layer of a :class:`~.network.SpikingResNet` while the block runs
    (forward passes only; the counts accumulate over batches)."""
    counts = SpikeCounts()
    handles = []
    layers = [("stem", model.stem.conv)]
    for stage, depth in enumerate(model.active_depths, start=1):
        for block_index, block in enumerate(model.stages[stage - 1][:depth], start=1):
            prefix = f"s{stage}.b{block_index}"
            layers += [(f"{prefix}.conv1", block.first.conv), (f"{prefix}.conv2", block.conv2)]
            if block.shortcut is not None:
                layers.append((f"{prefix}.shortcut", block.shortcut[0]))
    counts.names = [name for name, _ in layers] + ["classifier"]
    for slots in (counts.binary, counts.macs, counts.synapses, counts.inputs, counts.nonzero, counts.exact):
        slots.extend([None] * len(counts.names))
    for index, (_, conv) in enumerate(layers):
        handles.append(conv.register_forward_hook(_conv_hook(counts, index, conv)))
    last_neuron = model.active_blocks()[-1].neuron
    handles.append(last_neuron.register_forward_hook(_head_hook(counts, len(layers), model.num_classes)))
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def ann_comparison(
    space: SpikingResNetSpace,
    arch: Arch,
    num_classes: int,
    counts: SpikeCounts,
    timesteps: int,
    costs: EnergyCosts = DEFAULT_COSTS,
) -> dict[str, float | bool | str]:
    """The SNN (energy counted from its spikes) beside an ANN of the same shape (one pass, every layer as MACs,
    avg-pooled classifier).

    The bit budget compares the activation bits carried per neuron: ``T`` one-bit spikes against 8 (INT8) or 32
    (FP32) bits. The verdict says plainly when the spiking network costs more than the INT8 ANN.
    """
    shapes = layer_shapes(space, arch, num_classes)
    ann_macs = sum(layer.macs for layer in shapes[:-1]) + space.stage_widths[-1] * num_classes
    snn = counts.energy_pj(timesteps, costs, exact=True)
    int8 = ann_macs * costs.int8_mac_pj
    fp32 = ann_macs * costs.mac_pj
    cheaper = snn < int8
    verdict = (
        f"the SNN at T={timesteps} is cheaper than the INT8 ANN ({snn / int8:.2f}x its energy)"
        if cheaper
        else f"the SNN at T={timesteps} is NOT cheaper than the INT8 ANN of the same shape: {snn / int8:.2f}x "
        f"its energy (and {timesteps} activation bits vs 8)"
    )
    return {
        "snn_energy_pj": snn,
        "ann_macs": float(ann_macs),
        "int8_ann_energy_pj": int8,
        "fp32_ann_energy_pj": fp32,
        "snn_activation_bits": float(timesteps),
        "int8_activation_bits": 8.0,
        "fp32_activation_bits": 32.0,
        "snn_cheaper_than_int8": cheaper,
        "verdict": verdict,
    }


def training_activation_bytes(model: nn.Module, images: Tensor, timesteps: int | None = None) -> int:
    """Activation bytes autograd keeps for the backward pass of one training forward of ``model`` on ``images``,
    measured: every tensor saved for backward except the weights, each storage counted once. It grows linearly
    with ``T``."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            scores = model(images, timesteps) if timesteps is not None else model(images)
        del scores
    finally:
        model.train(was_training)
    return sum(seen.values())
