"""The synaptic layers of a spiking ResNet arch, per image and step: dense MACs, input elements and the neurons
each feeds (pure arithmetic on the arch, shared by the cost model, the supernet and the spike counters)."""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces import Arch, SpikingResNetSpace

__all__ = ["LayerShape", "feature_map", "in_bounds_taps", "layer_shapes", "out_size"]


@dataclass(frozen=True)
class LayerShape:
    """One synaptic layer of an arch, per image and step: dense MACs, input elements, neurons it feeds."""

    name: str
    macs: int
    inputs: int
    neurons: int


def out_size(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


def in_bounds_taps(size: int, kernel: int, stride: int) -> int:
    """Kernel taps that land inside a ``size``-long axis, summed over the outputs ("same" padding)."""
    reach = kernel // 2
    return sum(
        min(size - 1, position * stride + reach) - max(0, position * stride - reach) + 1
        for position in range(out_size(size, stride))
    )


def layer_shapes(space: SpikingResNetSpace, arch: Arch, num_classes: int) -> list[LayerShape]:
    """The synaptic layers of ``arch`` in order (stem, per block conv1, conv2, shortcut; classifier)."""
    size = int(arch["resolution"])
    layers = [LayerShape("stem", space.stem_width * 3 * 9 * size * size, 3 * size * size, space.stem_width * size**2)]
    channels = space.stem_width
    for stage, (width, stride) in enumerate(zip(space.stage_widths, space.stage_strides), start=1):
        for block in range(1, int(arch[space.depth_label(stage)]) + 1):
            kernel = int(arch[space.block_label(stage, block, "kernel")])
            hidden = space.hidden_width(stage, float(arch[space.block_label(stage, block, "width")]))
            step = stride if block == 1 else 1
            out = out_size(size, step)
            prefix = f"s{stage}.b{block}"
            layers.append(
                LayerShape(
                    f"{prefix}.conv1", hidden * channels * kernel**2 * out**2, channels * size**2, hidden * out**2
                )
            )
            layers.append(
                LayerShape(f"{prefix}.conv2", width * hidden * kernel**2 * out**2, hidden * out**2, width * out**2)
            )
            if step != 1 or channels != width:
                layers.append(LayerShape(f"{prefix}.shortcut", width * channels * out**2, channels * size**2, 0))
            channels, size = width, out
    layers.append(LayerShape("classifier", channels * size * size * num_classes, channels * size * size, 0))
    return layers


def feature_map(space: SpikingResNetSpace, arch: Arch) -> tuple[int, int]:
    """Channels and side of the last block's output map: what the head pools over space before its classifier."""
    channels, size = space.stem_width, int(arch["resolution"])
    for stage, (width, stride) in enumerate(zip(space.stage_widths, space.stage_strides), start=1):
        if int(arch[space.depth_label(stage)]) >= 1:
            channels, size = width, out_size(size, stride)
    return channels, size
