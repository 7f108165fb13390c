"""Time-major layers with elastic sizes: convolution over ``[T, B, C, H, W]`` and batch norm with running
statistics per timestep.

Per-step statistics keep the network causal in time: the output at step ``t`` depends on steps ``1..t`` only,
through the neurons and through the normalisation alike. Statistics calibrated at the largest ``T`` are therefore
exactly those a calibration at any smaller ``T`` would give, and one forward pass at the largest ``T`` yields the
result of every smaller ``T``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from search_spaces import ConfigError

__all__ = ["ElasticConv2d", "TimeBatchNorm2d", "centre_crop"]


def centre_crop(weight: Tensor, kernel: int) -> Tensor:
    """The centre ``kernel x kernel`` of a ``[out, in, k, k]`` filter bank."""
    start = (weight.shape[-1] - kernel) // 2
    return weight[..., start : start + kernel, start : start + kernel]


class ElasticConv2d(nn.Module):
    """A convolution applied to each timestep, with elastic output channels and kernel (centre crop).

    The input width is read from the input; :attr:`active_out` and :attr:`active_kernel` are set by the network.
    """

    def __init__(self, max_in: int, max_out: int, max_kernel: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(max_in, max_out, max_kernel, stride, max_kernel // 2, bias=False)
        self.stride = stride
        self.active_out = max_out
        self.active_kernel = max_kernel

    def forward(self, x: Tensor) -> Tensor:
        steps, batch = x.shape[:2]
        weight = centre_crop(self.conv.weight[: self.active_out, : x.shape[2]], self.active_kernel)
        out = F.conv2d(x.flatten(0, 1), weight, None, self.stride, self.active_kernel // 2)
        return out.unflatten(0, (steps, batch))


class TimeBatchNorm2d(nn.modules.batchnorm._BatchNorm):
    """Batch norm over ``[T, B, C, H, W]``: shared scale and shift, running statistics per step and channel.

    Training normalises each step by its own batch statistics. With a single row of statistics (``steps=1``) the
    same statistics serve every step, which is how an ANN's batch norm carries over to a converted SNN. Channels
    are elastic: the first ``C`` are used. Subclassing ``_BatchNorm`` lets BN recalibration treat it as any BN.
    """

    def __init__(self, num_features: int, steps: int = 1):
        super().__init__(num_features)
        self.steps = steps
        self.running_mean = torch.zeros(steps, num_features)
        self.running_var = torch.ones(steps, num_features)

    def _check_input_dim(self, x: Tensor) -> None:
        if x.dim() != 5:
            raise ConfigError(f"TimeBatchNorm2d expects [T, B, C, H, W], got shape {tuple(x.shape)}", field="input")

    def forward(self, x: Tensor) -> Tensor:
        self._check_input_dim(x)
        steps, channels = x.shape[0], x.shape[2]
        if self.training:
            var, mean = torch.var_mean(x, dim=(1, 3, 4), unbiased=False)
            self._update_running(mean.detach(), var.detach(), x.numel() // (steps * channels))
        else:
            mean, var = self._running_rows(steps, channels)
        scale = self.weight[:channels] / torch.sqrt(var + self.eps)
        shift = self.bias[:channels] - mean * scale
        return x * scale[:, None, :, None, None] + shift[:, None, :, None, None]

    @torch.no_grad()
    def _update_running(self, mean: Tensor, var: Tensor, count: int) -> None:
        steps, channels = mean.shape
        if steps > self.steps:
            raise ConfigError(
                f"{steps} timesteps but this layer keeps statistics for {self.steps}", field="timesteps", value=steps
            )
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = var * count / max(count - 1, 1)
        self.running_mean[:steps, :channels].lerp_(mean, momentum)
        self.running_var[:steps, :channels].lerp_(unbiased, momentum)

    def _running_rows(self, steps: int, channels: int) -> tuple[Tensor, Tensor]:
        if self.steps == 1:
            return (
                self.running_mean[:, :channels].expand(steps, channels),
                self.running_var[:, :channels].expand(steps, channels),
            )
        if steps > self.steps:
            raise ConfigError(
                f"{steps} timesteps but this layer has statistics for {self.steps}", field="timesteps", value=steps
            )
        return self.running_mean[:steps, :channels], self.running_var[:steps, :channels]

    def extra_repr(self) -> str:
        return f"{self.num_features}, steps={self.steps}"
