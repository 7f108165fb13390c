"""The elastic spiking ResNet: supernet, static subnets, and the QCFS ANN twin, all one class.

Every signal between layers is a binary spike: a block computes ``conv-BN-neuron-conv-BN``, adds the shortcut
(the block's input spikes, or a strided 1x1 conv-BN of them) *before* its output neuron, and passes the spikes on.
The head averages the last spikes over space and maps them to class scores at every step; the prediction is the
mean over steps. Built without an arch it is the supernet (layers at their largest sizes, ``set_active`` picks a
subnet); built with one it is that static subnet, and ``extract`` copies the active weights into it.

``neuron`` selects the activation: ``lif`` or ``plif`` (spiking, from the arch's tau and threshold), ``qcfs``
(the ANN twin: one step, no time dimension in its output), ``if`` (a converted SNN; thresholds set per layer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor, nn

from nas.layers.encoding import ENCODINGS, encode
from nas.layers.neurons import QCFS, SURROGATES, LIFNeuron
from nas.layers.temporal import ElasticConv2d, TimeBatchNorm2d, centre_crop
from nas.supernet.base import Supernet
from nas.supernet.families.spiking.shapes import layer_shapes
from search_spaces import Arch, ConfigError, InvalidArchError, SpikingResNetSpace

__all__ = ["NEURONS", "SpikingResNet", "forward_all_steps", "static_params"]

NEURONS = ("lif", "plif", "qcfs", "if")


class ConvBnNeuron(nn.Module):
    """Elastic conv, per-step BN and the network's activation."""

    def __init__(self, max_in: int, max_out: int, max_kernel: int, stride: int, steps: int, neuron: nn.Module):
        super().__init__()
        self.conv = ElasticConv2d(max_in, max_out, max_kernel, stride)
        self.bn = TimeBatchNorm2d(max_out, steps)
        self.neuron = neuron

    def forward(self, x: Tensor) -> Tensor:
        return self.neuron(self.bn(self.conv(x)))


class SpikingBlock(nn.Module):
    """Basic residual block; the residual sum enters the output neuron, so the block emits spikes."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        max_hidden: int,
        max_kernel: int,
        stride: int,
        steps: int,
        make_neuron: Callable[[], nn.Module],
    ):
        super().__init__()
        self.first = ConvBnNeuron(in_channels, max_hidden, max_kernel, stride, steps, make_neuron())
        self.conv2 = ElasticConv2d(max_hidden, out_channels, max_kernel)
        self.bn2 = TimeBatchNorm2d(out_channels, steps)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                ElasticConv2d(in_channels, out_channels, 1, stride), TimeBatchNorm2d(out_channels, steps)
            )
        self.neuron = make_neuron()

    def set_active(self, kernel: int, hidden: int) -> None:
        self.first.conv.active_kernel = kernel
        self.first.conv.active_out = hidden
        self.conv2.active_kernel = kernel

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.shortcut is None else self.shortcut(x)
        return self.neuron(self.bn2(self.conv2(self.first(x))) + residual)


class SpikingResNet(Supernet):
    """Elastic spiking ResNet over a :class:`~search_spaces.SpikingResNetSpace` (or one static subnet of it)."""

    def __init__(
        self,
        space: SpikingResNetSpace,
        num_classes: int = 10,
        dropout: float = 0.0,
        neuron: str | None = None,
        arch: Arch | None = None,
        encoding: str = "direct",
        surrogate: str = "atan",
        qcfs_levels: int = 8,
    ):
        neuron = _check_options(space, num_classes, neuron, encoding, surrogate, qcfs_levels)
        super().__init__(space, num_classes)
        if arch is not None:
            arch = self.check_arch(arch)
        self.dropout_rate = dropout
        self.neuron_kind, self.encoding, self.surrogate, self.qcfs_levels = neuron, encoding, surrogate, qcfs_levels
        steps = space.timesteps_of(arch) if arch is not None else space.max_timesteps
        self.static_arch = arch
        self.stem = ConvBnNeuron(3, space.stem_width, 3, 1, steps, self._neuron())
        stages = []
        in_channels = space.stem_width
        for stage, (width, stride) in enumerate(zip(space.stage_widths, space.stage_strides), start=1):
            depth = int(arch[space.depth_label(stage)]) if arch is not None else space.max_depth
            blocks = []
            for block in range(1, depth + 1):
                if arch is not None:
                    kernel = int(arch[space.block_label(stage, block, "kernel")])
                    hidden = space.hidden_width(stage, float(arch[space.block_label(stage, block, "width")]))
                else:
                    kernel, hidden = max(space.kernel_sizes), space.hidden_width(stage, max(space.width_ratios))
                blocks.append(
                    SpikingBlock(in_channels, width, hidden, kernel, stride if block == 1 else 1, steps, self._neuron)
                )
                in_channels = width
            stages.append(nn.ModuleList(blocks))
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels, num_classes)
        self.active_depths = [len(blocks) for blocks in self.stages]
        self.timesteps = steps
        self._active_arch = arch if arch is not None else space.largest()
        self.set_active(self._active_arch)

    @property
    def constructor_options(self) -> dict[str, object]:
        """The keyword options that rebuild this network (stored in supernet files)."""
        return {
            "dropout": self.dropout_rate,
            "neuron": self.neuron_kind,
            "encoding": self.encoding,
            "surrogate": self.surrogate,
            "qcfs_levels": self.qcfs_levels,
        }

    # ------------------------------------------------------------------ construction helpers
    def _neuron(self) -> nn.Module:
        if self.neuron_kind == "qcfs":
            return QCFS(self.qcfs_levels)
        if self.neuron_kind == "if":
            return LIFNeuron(tau=None, reset="soft", initial_fraction=0.5, surrogate=self.surrogate)
        return LIFNeuron(parametric=self.neuron_kind == "plif", surrogate=self.surrogate)

    # ------------------------------------------------------------------ choosing a subnet
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` for the following forward passes (a static subnet accepts only smaller choices)."""
        space = self.space
        arch = self.check_arch(arch)
        for stage, blocks in enumerate(self.stages, start=1):
            depth = int(arch[space.depth_label(stage)])
            if depth > len(blocks):
                raise InvalidArchError(
                    f"{space.depth_label(stage)}={depth} exceeds this network's {len(blocks)} blocks",
                    field=space.depth_label(stage),
                    value=depth,
                )
            self.active_depths[stage - 1] = depth
            for block in range(1, depth + 1):
                ratio = float(arch[space.block_label(stage, block, "width")])
                blocks[block - 1].set_active(
                    int(arch[space.block_label(stage, block, "kernel")]), space.hidden_width(stage, ratio)
                )
        if space.spiking:
            self.timesteps = int(arch["timesteps"])
            if self.neuron_kind in ("lif", "plif"):
                for neuron in self.neurons():
                    neuron.tau, neuron.threshold = float(arch["tau"]), float(arch["threshold"])
        self._active_arch = arch

    def active_blocks(self) -> list[SpikingBlock]:
        return [block for depth, blocks in zip(self.active_depths, self.stages) for block in blocks[:depth]]

    def neurons(self) -> Iterator[nn.Module]:
        """Every activation module (LIF/IF neurons or QCFS), in network order."""
        return (m for m in self.modules() if isinstance(m, (LIFNeuron, QCFS)))

    # ------------------------------------------------------------------ computing
    @property
    def is_spiking(self) -> bool:
        return self.neuron_kind != "qcfs"

    def forward(self, images: Tensor, timesteps: int | None = None) -> Tensor:
        """Class scores ``[T, B, classes]`` per step for an SNN, ``[B, classes]`` for the ANN twin.

        ``timesteps`` overrides the arch's ``T`` (how a converted SNN runs for longer than it was built for).
        """
        steps = (timesteps or self.timesteps) if self.is_spiking else 1
        x = encode(images, steps, self.encoding if self.is_spiking else "direct")
        x = self.stem(x)
        for block in self.active_blocks():
            x = block(x)
        scores = self.classifier(self.dropout(x.mean((3, 4))))
        return scores if self.is_spiking else scores[0]

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of one step of ``arch``'s dense (ANN-equivalent) network, batch 1."""
        return sum(layer.macs for layer in layer_shapes(self.space, arch, self.num_classes))

    def params(self, arch: Arch) -> int:
        return static_params(self.space, arch, self.num_classes, self.neuron_kind)

    # ------------------------------------------------------------------ extraction
    def extract(self, arch: Arch | None = None) -> SpikingResNet:
        """A static network of ``arch`` (default: the active arch) holding copies of the active weights."""
        if arch is not None:
            self.set_active(arch)
        arch = self._active_arch
        subnet = SpikingResNet(
            self.space,
            self.num_classes,
            self.dropout_rate,
            self.neuron_kind,
            arch,
            self.encoding,
            self.surrogate,
            self.qcfs_levels,
        )
        source = self.state_dict()
        with torch.no_grad():
            state = {name: _fit(source[name], target).clone() for name, target in subnet.state_dict().items()}
        subnet.load_state_dict(state, strict=True, assign=True)  # assign: also works on the meta device
        return subnet.train(self.training)


def _check_options(
    space: SpikingResNetSpace, num_classes: int, neuron: str | None, encoding: str, surrogate: str, qcfs_levels: int
) -> str:
    """Validate the constructor options (they also come from supernet files); returns the neuron kind."""
    neuron = neuron or ("lif" if space.spiking else "qcfs")
    if neuron not in NEURONS:
        raise ConfigError(f"neuron={neuron!r} not in {NEURONS}", field="neuron", value=neuron, allowed=NEURONS)
    if (neuron in ("lif", "plif")) != space.spiking:
        raise ConfigError(
            f"neuron={neuron!r} does not fit space {space.name!r} ({'spiking' if space.spiking else 'ANN'})",
            field="neuron",
            value=neuron,
        )
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding={encoding!r} not in {ENCODINGS}", field="encoding", value=encoding)
    if surrogate not in SURROGATES:
        raise ConfigError(f"surrogate={surrogate!r} not in {tuple(SURROGATES)}", field="surrogate", value=surrogate)
    if isinstance(qcfs_levels, bool) or not isinstance(qcfs_levels, int) or qcfs_levels < 1:
        raise ConfigError(f"qcfs_levels={qcfs_levels!r} must be an integer >= 1", field="qcfs_levels")
    return neuron


def _fit(source: Tensor, target: Tensor) -> Tensor:
    """The part of a supernet tensor a smaller static tensor holds: leading slices, centre-cropped kernels."""
    if source.shape == target.shape:
        return source
    if source.dim() == 4 and source.shape[-1] != target.shape[-1]:
        source = centre_crop(source, target.shape[-1])
    return source[tuple(slice(0, n) for n in target.shape)]


def forward_all_steps(model: SpikingResNet, images: Tensor) -> Tensor:
    """``[T, B, classes]`` cumulative mean scores: row ``t`` is the prediction of the same network run for ``t+1``
    steps (exact, because the network is causal in time)."""
    scores = model(images)
    steps = torch.arange(1, scores.shape[0] + 1, device=scores.device, dtype=scores.dtype)
    return scores.cumsum(0) / steps[:, None, None]


@lru_cache(maxsize=4096)
def static_params(space: SpikingResNetSpace, arch: Arch, num_classes: int, neuron: str | None = None) -> int:
    """Parameters of ``arch``'s static subnet with ``neuron`` activations (default: the space's), built on the meta
    device: no memory, no initialisation. PLIF neurons add a learned leak per layer."""
    with torch.device("meta"):
        network = SpikingResNet(space, num_classes, neuron=neuron, arch=arch)
    return sum(p.numel() for p in network.parameters())
