"""Memory estimates: weight bytes, inference peak (hand-computed and checked against the profiler on real CPU
tensors), MCUNet peak SRAM of an inverted residual block, the training footprint, a project subnet end to end, and
typed errors for bad arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from predictors.memory import (
    InferenceMemory,
    dtype_name,
    inference_memory,
    inference_peak_bytes,
    mcunet_memory,
    mcunet_peak_bytes,
    resolve_dtype,
    training_memory,
    weight_bytes,
)
from search_spaces import ConfigError
from tests.timing import fastest_of

F32 = 4


def conv_chain() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))


class Residual(nn.Module):
    """``x + body(x)``: the block input stays alive until the addition."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def stem_and_body(residual: bool) -> nn.Sequential:
    """A stem conv, then conv-ReLU-conv: inside a residual block, or flat (a nested Sequential would hold its input
    for its whole call, just as the residual block does)."""
    stem = nn.Conv2d(3, 8, 3, padding=1)
    body = [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)]
    return nn.Sequential(stem, Residual(nn.Sequential(*body))) if residual else nn.Sequential(stem, *body)


class PoolHead(nn.Module):
    """Conv, global mean with ``keepdim``, ``flatten``, linear: the head shape of the project's subnets."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        x = x.mean((2, 3), keepdim=True)
        return self.fc(x.flatten(1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (BN, ReLU6), 3x3 depthwise (BN, ReLU6), 1x1 project (BN), residual add."""

    def __init__(self, channels: int = 16, expand: int = 6):
        super().__init__()
        hidden = channels * expand
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6())
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()
        )
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.project(self.depthwise(self.expand(x)))


class MlpWithResidual(nn.Module):
    """Only ops without kernel scratch space on CPU, so the profiler sees exactly the activations."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 128)
        self.fc3 = nn.Linear(128, 64)
        self.head = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.relu_(self.fc1(x))  # in place: no new storage
        x = x + self.fc3(nn.functional.hardswish(self.fc2(x)))  # residual keeps x alive through fc2, fc3
        return self.head(x.view(x.shape[0], -1))  # a view: same storage


# --- weight_bytes --------------------------------------------------------------------------------------------------


def test_weight_bytes_of_a_linear_layer_per_dtype() -> None:
    layer = nn.Linear(10, 5)
    assert weight_bytes(layer) == {"float32": 55 * 4, "total": 55 * 4}
    assert weight_bytes(layer, "int8") == {"int8": 55, "total": 55}
    assert weight_bytes(layer, "float16")["total"] == weight_bytes(layer, torch.bfloat16)["total"] == 110
    assert weight_bytes(layer, "fp32") == weight_bytes(layer)


def test_weight_bytes_counts_buffers_and_leaves_the_model_alone() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    sizes = weight_bytes(model)
    # conv weight 8*3*3*3, BN weight+bias 2*8, running mean+var 2*8 (float32); num_batches_tracked is one int64
    assert sizes == {"float32": (216 + 16 + 16) * 4, "int64": 8, "total": 248 * 4 + 8}
    assert weight_bytes(model, "int8") == {"int8": 248, "int64": 8, "total": 256}
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu" and torch.equal(tensor, before[name])


# --- inference_peak_bytes -------------------------------------------------------------------------------------------


def test_inference_peak_of_a_conv_chain_by_hand() -> None:
    # Eager Sequential: the caller's input lives throughout; conv1's output dies once ReLU has returned.
    # conv1: x + a; relu: x + a + b (the peak); conv2: x + b + c.
    x, a, b = 3 * 16 * 16 * F32, 8 * 16 * 16 * F32, 8 * 16 * 16 * F32
    memory = inference_memory(conv_chain(), (1, 3, 16, 16))
    assert isinstance(memory, InferenceMemory)
    assert memory.peak_bytes == x + a + b == 19456
    assert memory.peak_op == "relu" and memory.peak_module == "1"
    assert memory.input_bytes == x
    assert inference_peak_bytes(conv_chain(), (1, 3, 16, 16)) == 19456


def test_inference_peak_handles_mean_keepdim_and_flatten() -> None:
    # conv output 4x8x8 is alive while mean runs (the caller's input too); flatten is a view; linear is tiny.
    expected = (3 * 64 + 4 * 64 + 4) * F32
    memory = inference_memory(PoolHead(), (1, 3, 8, 8))
    assert memory.peak_bytes == expected and memory.peak_op == "mean"


def test_inference_peak_counts_views_and_in_place_ops_once() -> None:
    x, a, b = 8 * F32, 8 * F32, 8 * F32  # input (2, 4), relu_ writes into a, view shares b
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Flatten(0), nn.Unflatten(0, (2, 4)))
    assert inference_peak_bytes(model, (2, 4)) == x + a
    out_of_place = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    assert inference_peak_bytes(out_of_place, (2, 4)) == x + a + b


def test_residual_keeps_the_block_input_alive() -> None:
    chain = inference_peak_bytes(stem_and_body(residual=False), (1, 3, 16, 16))
    residual = inference_peak_bytes(stem_and_body(residual=True), (1, 3, 16, 16))
    x, s = 3 * 256 * F32, 8 * 256 * F32
    # chain peak at relu: x + a + b (the stem output s died after the first body conv); the residual block holds s
    assert chain == x + 2 * s
    assert residual == chain + s


def test_inference_peak_scales_with_batch_and_dtype() -> None:
    one = inference_peak_bytes(conv_chain(), (1, 3, 16, 16))
    assert inference_peak_bytes(conv_chain(), (4, 3, 16, 16)) == 4 * one
    assert inference_peak_bytes(conv_chain(), (1, 3, 16, 16), dtype="float16") == one // 2
    assert inference_peak_bytes(conv_chain(), (1, 3, 16, 16), dtype="int8") == one // 4


def profiled_peak_bytes(model: nn.Module, x: Tensor) -> int:
    """Peak bytes of a real CPU forward from the profiler's allocation events, plus the input allocated before it."""
    with (
        torch.no_grad(),
        torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof,
    ):
        model(x)
    events = sorted(prof.events(), key=lambda event: (event.time_range.start, -event.time_range.end))
    current = peak = 0
    for event in events:
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak + x.numel() * x.element_size()


@pytest.mark.parametrize("batch", [4, 16])
def test_inference_peak_matches_the_profiler_on_real_tensors(batch: int) -> None:
    model = MlpWithResidual().eval()
    x = torch.randn(batch, 32)
    measured = profiled_peak_bytes(model, x)
    # hand count: input, fc1 output (relu_ in place), fc2 output and hardswish output all alive at hardswish
    assert measured == (32 + 64 + 128 + 128) * batch * F32
    assert inference_peak_bytes(model, (batch, 32)) == measured


# --- mcunet_peak_bytes ----------------------------------------------------------------------------------------------


def test_mcunet_peak_of_an_inverted_residual_block_by_hand() -> None:
    x, hidden = 16 * 8 * 8, 96 * 8 * 8  # int8: one byte per element
    memory = mcunet_memory(InvertedResidual(), (1, 16, 8, 8))
    layers = dict(memory.layers)
    assert layers["expand.0"] == x + hidden  # BN and ReLU6 fused: no layers of their own
    assert layers["depthwise.0"] == hidden + hidden + x  # x kept for the residual add
    assert layers["project.0"] == hidden + x + x
    assert layers["<model>:add"] == 3 * x
    assert set(layers) == {"expand.0", "depthwise.0", "project.0", "<model>:add"}
    assert memory.peak_bytes == 2 * hidden + x == 13312 and memory.peak_layer == "depthwise.0"
    assert mcunet_peak_bytes(InvertedResidual(), (1, 16, 8, 8), bytes_per_element=4) == 4 * 13312


def test_mcunet_without_residual_and_unfused() -> None:
    block = InvertedResidual()
    plain = nn.Sequential(block.expand, block.depthwise, block.project)
    assert mcunet_peak_bytes(plain, (1, 16, 8, 8)) == 2 * 96 * 64  # no residual buffer to hold
    unfused = dict(mcunet_memory(plain, (1, 16, 8, 8), fuse_elementwise=False).layers)
    assert unfused["0.1"] == unfused["0.2"] == 2 * 96 * 64  # BN and ReLU6 write their own buffers


def test_mcunet_handles_mean_keepdim_and_flatten() -> None:
    layers = dict(mcunet_memory(PoolHead(), (1, 3, 8, 8)).layers)
    assert layers == {"conv": 3 * 64 + 4 * 64, "<model>:mean": 4 * 64 + 4, "fc": 4 + 2}


# --- training_memory ------------------------------------------------------------------------------------------------


def test_training_activations_by_hand_and_optimizer_state() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    params = (10 * 20 + 20 + 20 * 5 + 5) * F32
    memory = training_memory(model, (8, 10), optimizer="adam")
    # saved: the input (for fc1's weight gradient) and ReLU's output (for ReLU and fc2: one storage)
    assert memory.activations_bytes == (8 * 10 + 8 * 20) * F32
    assert memory.weights_bytes == memory.gradients_bytes == params and memory.buffers_bytes == 0
    assert memory.optimizer_state_bytes == 2 * params
    assert training_memory(model, (8, 10), optimizer="adamw").optimizer_state_bytes == 2 * params
    assert training_memory(model, (8, 10), optimizer="sgd_momentum").optimizer_state_bytes == params
    assert training_memory(model, (8, 10), optimizer="sgd").optimizer_state_bytes == 0


def test_training_memory_parts_sum_and_scale_with_batch() -> None:
    model = stem_and_body(residual=True).append(nn.BatchNorm2d(8))
    model[0].requires_grad_(False)  # frozen: weights but no gradient or optimizer state
    two = training_memory(model, (1, 3, 16, 16), optimizer="adam", batch_size=2)
    four = training_memory(model, (1, 3, 16, 16), optimizer="adam", batch_size=4)
    for memory in (two, four):
        parts = (
            memory.weights_bytes,
            memory.buffers_bytes,
            memory.gradients_bytes,
            memory.optimizer_state_bytes,
            memory.activations_bytes,
        )
        assert memory.total_bytes == sum(parts)
        assert memory.gradients_bytes == memory.weights_bytes - (8 * 3 * 9 + 8) * F32
        assert memory.buffers_bytes == 2 * 8 * F32 + 8
    assert four.activations_bytes == pytest.approx(2 * two.activations_bytes, rel=0.01)
    assert two.activations_bytes > 0 and four.weights_bytes == two.weights_bytes


def test_the_callers_model_is_untouched() -> None:
    model = stem_and_body(residual=True).append(nn.BatchNorm2d(8)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inference_peak_bytes(model, (1, 3, 8, 8))
    mcunet_peak_bytes(model, (1, 3, 8, 8))
    training_memory(model, (1, 3, 8, 8))
    assert model.training and all(m.training for m in model.modules())
    for name, tensor in model.state_dict().items():
        assert tensor.device.type == "cpu" and torch.equal(tensor, before[name])
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


# --- a project subnet end to end ------------------------------------------------------------------------------------


def test_static_mobilenetv3_subnet_end_to_end() -> None:
    from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet
    from search_spaces import get_space

    space = get_space("ofa_mbv3_small")
    arch = space.largest()
    model = MobileNetV3Subnet(space, arch, num_classes=10, device="meta")
    shape = (1, 3, int(arch["resolution"]), int(arch["resolution"]))
    inference_peak_bytes(conv_chain(), (1, 3, 8, 8))  # torch loads its meta kernels on first use (~2 s): not timed

    def timed(call: Callable[[], Any]) -> Any:
        result, seconds = fastest_of(call)
        assert seconds < 2.0
        return result

    sizes = timed(lambda: weight_bytes(model))
    params = sum(p.numel() for p in model.parameters())
    float_buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    batch_norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert sizes["float32"] == 4 * (params + float_buffers)
    assert sizes["int64"] == 8 * batch_norms  # num_batches_tracked
    assert sizes["total"] == sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])

    inference = timed(lambda: inference_memory(model, shape))
    input_bytes = 3 * shape[2] * shape[3] * F32
    assert inference.peak_bytes > 2 * input_bytes and inference.input_bytes == input_bytes
    mcu = timed(lambda: mcunet_memory(model, shape))
    assert inference.peak_bytes // 4 >= mcu.peak_bytes > 3 * shape[2] * shape[3]
    assert any(name.endswith(":mean") for name, _ in mcu.layers)  # the SE and head global pools
    training = timed(lambda: training_memory(model, shape, optimizer="adam"))
    assert training.weights_bytes == 4 * params and training.optimizer_state_bytes == 8 * params
    assert training.activations_bytes > inference.peak_bytes
    assert model.stem.conv.weight.device.type == "meta"


# --- bad input ------------------------------------------------------------------------------------------------------


def test_dtype_names() -> None:
    assert resolve_dtype("bf16") is torch.bfloat16 and resolve_dtype(torch.int8) is torch.int8
    assert dtype_name(torch.float16) == dtype_name("fp16") == "float16"


@pytest.mark.parametrize(
    ("call", "field", "value"),
    [
        (lambda: weight_bytes(nn.Linear(2, 2), "float12"), "dtype", "float12"),
        (lambda: inference_peak_bytes(nn.Linear(2, 2), (1, 2), dtype="int4"), "dtype", "int4"),
        (lambda: training_memory(nn.Linear(2, 2), (1, 2), batch_size=0), "batch_size", 0),
        (lambda: training_memory(nn.Linear(2, 2), (1, 2), optimizer="rmsprop"), "optimizer", "rmsprop"),
        (lambda: inference_peak_bytes(nn.Linear(2, 2), (0, 2)), "input_shape", (0, 2)),
        (lambda: mcunet_peak_bytes(nn.Linear(2, 2), (1, 2), bytes_per_element=0), "bytes_per_element", 0),
    ],
)
def test_bad_arguments_raise_config_error(call: Callable[[], object], field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.field == field and info.value.value == value
    message = str(info.value)
    assert field in message and repr(value) in message
    if field in ("dtype", "optimizer"):
        assert "float32" in message or "sgd_momentum" in message  # says what is allowed
