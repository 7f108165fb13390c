"""Elastic convolution, depthwise convolution, batch norm, linear and squeeze-excite layers.

Each layer owns the weights of its largest configuration. Channels are elastic by taking the first ``n`` rows or
columns (after the MobileNetV3 supernet's ``sort_channels`` the first ones are the most important);
the depthwise kernel is elastic by centre crop followed by a learned transformation per kernel size (as in
once-for-all). ``active_*`` methods return the tensors a static layer of the active size would hold, which is how
extraction copies weights out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.layers.depthwise import depthwise_conv2d
from search_spaces import make_divisible

__all__ = [
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicDepthwiseConv2d",
    "DynamicSqueezeExcite",
]


class DynamicConv2d(nn.Module):
    """A dense convolution (1x1 in MobileNets) with elastic input and output channels.

    The input width is read from the input; the output width is :attr:`active_out`.
    """

    def __init__(self, max_in: int, max_out: int, kernel_size: int = 1, stride: int = 1, bias: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(max_in, max_out, kernel_size, stride, kernel_size // 2, bias=bias)
        self.active_out = max_out

    def active_weight(self, in_channels: int) -> Tensor:
        return self.conv.weight[: self.active_out, :in_channels]

    def active_bias(self) -> Tensor | None:
        return None if self.conv.bias is None else self.conv.bias[: self.active_out]

    def forward(self, x: Tensor) -> Tensor:
        weight = self.active_weight(x.shape[1])
        return F.conv2d(x, weight, self.active_bias(), self.conv.stride, self.conv.padding)


class DynamicDepthwiseConv2d(nn.Module):
    """A depthwise convolution with elastic channels and an elastic kernel.

    A smaller kernel is the centre of the next larger one, passed through a learned ``k*k x k*k`` matrix
    (initialised to identity) shared by all channels: 7 -> 5 applies ``transform_7to5``, 7 -> 3 applies that and
    then ``transform_5to3``. The transforms let small kernels differ from a plain crop of the large one.
    """

    def __init__(self, max_channels: int, kernel_sizes: tuple[int, ...], stride: int = 1):
        super().__init__()
        self.kernel_sizes = tuple(sorted(set(kernel_sizes)))
        self.max_kernel = self.kernel_sizes[-1]
        self.stride = stride
        self.conv = nn.Conv2d(
            max_channels,
            max_channels,
            self.max_kernel,
            stride,
            self.max_kernel // 2,
            groups=max_channels,
            bias=False,
        )
        for larger, smaller in zip(self.kernel_sizes[1:], self.kernel_sizes[:-1]):
            self.register_parameter(_transform_name(larger, smaller), nn.Parameter(torch.eye(smaller * smaller)))
        self.active_kernel = self.max_kernel

    def active_weight(self, channels: int, kernel: int | None = None) -> Tensor:
        """The ``(channels, 1, k, k)`` filter of the active (or given) kernel size."""
        kernel = self.active_kernel if kernel is None else kernel
        weight = self.conv.weight[:channels]
        source = self.max_kernel
        for target in reversed(self.kernel_sizes):
            if target >= source or target < kernel:
                continue
            start = (source - target) // 2
            centre = weight[:, :, start : start + target, start : start + target].reshape(channels, target * target)
            matrix = getattr(self, _transform_name(source, target))
            weight = F.linear(centre, matrix).reshape(channels, 1, target, target)
            source = target
        return weight

    def forward(self, x: Tensor) -> Tensor:
        weight = self.active_weight(x.shape[1])
        return depthwise_conv2d(x, weight, self.stride, self.active_kernel // 2)


def _transform_name(larger: int, smaller: int) -> str:
    return f"transform_{larger}to{smaller}"


class DynamicBatchNorm2d(nn.Module):
    """Batch norm over the first ``C`` channels of its largest configuration (C read from the input)."""

    def __init__(self, max_features: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(max_features)

    def forward(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        bn = self.bn
        if channels == bn.num_features:
            return bn(x)
        momentum = 0.0 if bn.momentum is None else bn.momentum
        use_batch_stats = self.training or not bn.track_running_stats
        if self.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            if bn.momentum is None:  # cumulative moving average, as nn.BatchNorm2d does
                momentum = 1.0 / float(bn.num_batches_tracked)
        return F.batch_norm(
            x,
            bn.running_mean[:channels] if bn.track_running_stats else None,
            bn.running_var[:channels] if bn.track_running_stats else None,
            bn.weight[:channels],
            bn.bias[:channels],
            use_batch_stats,
            momentum,
            bn.eps,
        )

    def active_state(self, channels: int) -> dict[str, Tensor]:
        """The state dict of an ``nn.BatchNorm2d(channels)`` holding this layer's first channels."""
        bn = self.bn
        return {
            "weight": bn.weight[:channels],
            "bias": bn.bias[:channels],
            "running_mean": bn.running_mean[:channels],
            "running_var": bn.running_var[:channels],
            "num_batches_tracked": bn.num_batches_tracked,
        }


class DynamicSqueezeExcite(nn.Module):
    """Squeeze-excite with elastic channels; the hidden width is ``make_divisible(C // reduction, 8)``."""

    def __init__(self, max_channels: int, reduction: int = 4):
        super().__init__()
        self.reduction = reduction
        max_hidden = make_divisible(max_channels // reduction)
        self.reduce = nn.Conv2d(max_channels, max_hidden, 1, bias=True)
        self.expand = nn.Conv2d(max_hidden, max_channels, 1, bias=True)

    def hidden(self, channels: int) -> int:
        """Hidden width of the static squeeze-excite for ``channels`` channels."""
        return make_divisible(channels // self.reduction)

    def active_state(self, channels: int) -> dict[str, Tensor]:
        """Weights of a static squeeze-excite of ``channels`` channels, keyed like its state dict."""
        hidden = self.hidden(channels)
        return {
            "reduce.weight": self.reduce.weight[:hidden, :channels],
            "reduce.bias": self.reduce.bias[:hidden],
            "expand.weight": self.expand.weight[:channels, :hidden],
            "expand.bias": self.expand.bias[:channels],
        }

    def forward(self, x: Tensor) -> Tensor:
        state = self.active_state(x.shape[1])
        scale = x.mean((2, 3), keepdim=True)
        scale = F.relu(F.conv2d(scale, state["reduce.weight"], state["reduce.bias"]))
        scale = F.hardsigmoid(F.conv2d(scale, state["expand.weight"], state["expand.bias"]))
        return x * scale
