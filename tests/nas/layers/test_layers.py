"""Dynamic layers: the faster CPU depthwise weight gradient equals autograd's; elastic kernels and slicing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nas.layers import DynamicBatchNorm2d, DynamicDepthwiseConv2d
from nas.layers.depthwise import _DepthwiseConv, depthwise_conv2d


@pytest.mark.parametrize(
    ("batch", "channels", "size", "kernel", "stride", "channels_last"),
    [(8, 96, 4, 7, 1, True), (4, 40, 8, 5, 2, False), (4, 24, 9, 3, 2, True), (2, 16, 16, 7, 2, False)],
)
def test_folded_depthwise_gradients_equal_autograd(
    batch: int, channels: int, size: int, kernel: int, stride: int, channels_last: bool
) -> None:
    x = torch.randn(batch, channels, size, size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(channels, 1, kernel, kernel)
    x_ref, w_ref = x.clone().requires_grad_(), weight.clone().requires_grad_()
    x_new, w_new = x.clone().requires_grad_(), weight.clone().requires_grad_()
    expected = F.conv2d(x_ref, w_ref, None, stride, kernel // 2, groups=channels)
    actual = _DepthwiseConv.apply(x_new, w_new, stride, kernel // 2)
    grad = torch.randn_like(expected)
    expected.backward(grad)
    actual.backward(grad)
    assert torch.allclose(expected, actual)
    assert torch.allclose(w_ref.grad, w_new.grad, rtol=1e-4, atol=1e-4)
    assert torch.allclose(x_ref.grad, x_new.grad, rtol=1e-4, atol=1e-5)


def test_depthwise_dispatch_keeps_native_path_for_inference_and_large_maps() -> None:
    weight = torch.randn(8, 1, 3, 3, requires_grad=True)
    with torch.no_grad():
        out = depthwise_conv2d(torch.randn(1, 8, 4, 4), weight, 1, 1)
    assert out.grad_fn is None
    large = depthwise_conv2d(torch.randn(1, 8, 32, 32), weight, 1, 1)
    assert "Convolution" in type(large.grad_fn).__name__
    small = depthwise_conv2d(torch.randn(1, 8, 4, 4), weight, 1, 1)
    assert "_DepthwiseConv" in type(small.grad_fn).__name__


def test_elastic_kernel_is_centre_crop_through_identity_transforms() -> None:
    layer = DynamicDepthwiseConv2d(4, (3, 5, 7))
    full = layer.conv.weight
    assert torch.equal(layer.active_weight(4, 5), full[:, :, 1:6, 1:6])
    assert torch.equal(layer.active_weight(4, 3), full[:, :, 2:5, 2:5])
    with torch.no_grad():
        layer.transform_5to3.copy_(torch.eye(9).flip(0))  # a learned transform changes the small kernel
    assert not torch.equal(layer.active_weight(4, 3), full[:, :, 2:5, 2:5])


def test_dynamic_batch_norm_slices_statistics_and_updates_only_active_channels() -> None:
    layer = DynamicBatchNorm2d(8).train()
    layer(torch.randn(16, 5, 4, 4) + 3.0)
    assert torch.all(layer.bn.running_mean[:5] > 0.2)
    assert torch.all(layer.bn.running_mean[5:] == 0)
