"""A depthwise convolution whose weight gradient is computed faster on CPU for small feature maps.

On CPU, oneDNN's weight gradient for depthwise convolutions has a large fixed cost that grows with the kernel:
measured on this project's 2-core machine (batch 32, 7x7 kernel, channels-last), 27 ms for a 960-channel 4x4 map,
against 0.5 ms for the input gradient of the same layer. Late MobileNet stages are exactly such layers. The same
gradient is a correlation of the input with the output gradient per (sample, channel), i.e. one grouped
convolution with the batch folded into the channels, which takes 2-3x less time on maps up to 8x8. Larger maps,
GPUs and inference keep the native path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["depthwise_conv2d"]

SMALL_MAP = 64  # output height x width up to which the folded weight gradient is faster on CPU


class _DepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, stride: int, padding: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, None, stride, padding, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        stride, padding = ctx.stride, ctx.padding
        channels, kernel = x.shape[1], weight.shape[-1]
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out,
                x,
                weight,
                None,
                [stride] * 2,
                [padding] * 2,
                [1, 1],
                False,
                [0, 0],
                channels,
                [True, False, False],
            )[0]
        if ctx.needs_input_grad[1]:
            grad_w = _weight_grad(x, grad_out, kernel, stride, padding)
        return grad_x, grad_w, None, None


def _weight_grad(x: Tensor, grad_out: Tensor, kernel: int, stride: int, padding: int) -> Tensor:
    """d loss / d weight[c, 0, i, j] = sum over n, h, w of x_pad[n, c, s*h + i, s*w + j] * grad_out[n, c, h, w]."""
    batch, channels, height, width = x.shape
    folded = x.contiguous().view(1, batch * channels, height, width)
    taps = grad_out.contiguous().view(batch * channels, 1, grad_out.shape[2], grad_out.shape[3])
    grad = F.conv2d(folded, taps, None, 1, padding, dilation=stride, groups=batch * channels)
    grad = grad[:, :, :kernel, :kernel].reshape(batch, channels, kernel, kernel).sum(0)
    return grad.unsqueeze(1).to(memory_format=torch.contiguous_format)


def depthwise_conv2d(x: Tensor, weight: Tensor, stride: int, padding: int) -> Tensor:
    """``F.conv2d(x, weight, stride=stride, padding=padding, groups=C)`` with the faster CPU weight gradient where
    it pays (training on CPU, output map of at most :data:`SMALL_MAP` pixels)."""
    out_size = (x.shape[-1] + 2 * padding - weight.shape[-1]) // stride + 1
    if x.device.type == "cpu" and weight.requires_grad and torch.is_grad_enabled() and out_size**2 <= SMALL_MAP:
        return _DepthwiseConv.apply(x, weight, stride, padding)
    return F.conv2d(x, weight, None, stride, padding, groups=x.shape[1])
