"""MobileNetV3 subnets as native timm models (``nas export --format timm``).

Every static subnet of the once-for-all MobileNetV3 spaces is exactly timm's ``MobileNetV3`` built from an
``arch_def``: the fixed first block ``ds_r1_k3_s1_e1_c16_nre``, one ``ir_r1_k{k}_s{s}_e{e}_c{width}[_se0.25][_nre]``
per active block (grouped by stage), and the final expansion ``cn_r1_k1_s1_c960``, with ``head_bias=False``,
``fix_stem=True``, hard-swish activations and timm's MobileNetV3 squeeze-excite (ReLU, hard-sigmoid gate, reduced
width rounded to a multiple of 8). Everything is read off the static subnet's own layers, so the spec describes the
network actually exported. timm's stem has stride 2; the 32x32 space's stride-1 stem is carried as ``stem_stride``.

The block helpers serve every family of :class:`~nas.supernet.families.mobilenetv3.static.MBConvBlock` networks
(ProxylessNAS's too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nas.supernet.families.mobilenetv3.static import ConvBnAct, MBConvBlock, MobileNetV3Subnet
from nas.supernet.timm_model import TimmModelSpec, batch_norm_eps, renamed_state
from search_spaces import Arch, MobileNetV3Space, make_divisible

__all__ = ["TIMM_ACTIVATIONS", "mbconv_arch_def", "mobilenetv3_timm_spec", "timm_expand_ratio"]

TIMM_ACTIVATIONS: dict[type[nn.Module], tuple[str, str]] = {
    nn.ReLU: ("relu", "re"),
    nn.ReLU6: ("relu6", "r6"),
    nn.Hardswish: ("hard_swish", "hs"),
}
"""Activation class -> (timm's ``get_act_layer`` name, its block-string code after ``_n``)."""

_TIMM_STEM_STRIDE = 2
_SE_RATIO = 0.25


def timm_expand_ratio(in_channels: int, hidden: int) -> str:
    """The ``e`` of a timm ``ir`` block string whose hidden width is ``hidden``.

    timm's inverted residual computes its hidden width as ``make_divisible(in_channels * e)`` (the rule
    once-for-all rounds ``in_channels * expand`` with), so ``hidden / in_channels`` written exactly (an integer for
    every once-for-all width) reproduces it; a width no ratio reproduces raises ValueError.
    """
    ratio = hidden / in_channels
    text = str(int(ratio)) if ratio.is_integer() else repr(ratio)
    if make_divisible(in_channels * float(text)) != hidden:
        raise ValueError(f"no timm expand ratio gives hidden width {hidden} from {in_channels} channels")
    return text


def _activation(layer: ConvBnAct) -> type[nn.Module]:
    act = getattr(layer, "act", None)
    if type(act) not in TIMM_ACTIVATIONS:
        raise ValueError(f"{type(act).__name__} has no timm activation name")
    return type(act)


def _block_string(block: MBConvBlock, default_act: type[nn.Module]) -> tuple[str, dict[str, str]]:
    """One block as a timm block string and its modules' timm names (relative to the block)."""
    conv = block.depthwise.conv
    kernel, stride, out = conv.kernel_size[0], conv.stride[0], block.project.conv.out_channels
    act = _activation(block.depthwise)
    if block.expand is None:  # depthwise, linear projection: timm's DepthwiseSeparableConv
        in_channels = conv.in_channels
        text = f"ds_r1_k{kernel}_s{stride}_e1_c{out}"
        names = {"depthwise.conv": "conv_dw", "depthwise.bn": "bn1", "project.conv": "conv_pw", "project.bn": "bn2"}
    else:
        in_channels, hidden = block.expand.conv.in_channels, block.expand.conv.out_channels
        text = f"ir_r1_k{kernel}_s{stride}_e{timm_expand_ratio(in_channels, hidden)}_c{out}"
        names = {
            "expand.conv": "conv_pw",
            "expand.bn": "bn1",
            "depthwise.conv": "conv_dw",
            "depthwise.bn": "bn2",
            "project.conv": "conv_pwl",
            "project.bn": "bn3",
        }
        if _activation(block.expand) is not act:
            raise ValueError("an inverted residual with two different activations has no timm block string")
    if block.se is not None:
        if block.se.reduce.out_channels != make_divisible(conv.out_channels * _SE_RATIO):
            raise ValueError(f"squeeze-excite width {block.se.reduce.out_channels} is not timm's rounding")
        text += f"_se{_SE_RATIO}"
        names.update({"se.reduce": "se.conv_reduce", "se.expand": "se.conv_expand"})
    if act is not default_act:
        text += f"_n{TIMM_ACTIVATIONS[act][1]}"
    if block.use_residual != (stride == 1 and in_channels == out):  # timm's rule for a skip connection
        raise ValueError("the block's residual connection differs from timm's rule")
    return text, names


def mbconv_arch_def(
    blocks: Sequence[MBConvBlock], stage_sizes: Sequence[int], default_act: type[nn.Module]
) -> tuple[list[list[str]], dict[str, str]]:
    """The timm ``arch_def`` of a subnet's MBConv ``blocks`` (``stage_sizes`` blocks per timm stage, in order) and
    the renames ``blocks.{i}.<module>`` -> ``blocks.{stage}.{j}.<timm module>`` of their modules."""
    if sum(stage_sizes) != len(blocks):
        raise ValueError(f"stages of {list(stage_sizes)} blocks do not hold {len(blocks)} blocks")
    arch_def: list[list[str]] = []
    modules: dict[str, str] = {}
    index = 0
    for stage, size in enumerate(stage_sizes):
        strings = []
        for position in range(size):
            text, names = _block_string(blocks[index], default_act)
            strings.append(text)
            modules.update(
                {f"blocks.{index}.{ours}": f"blocks.{stage}.{position}.{theirs}" for ours, theirs in names.items()}
            )
            index += 1
        arch_def.append(strings)
    return arch_def, modules


def stem_stride(stem: ConvBnAct) -> int | None:
    """The stem's stride when it is not timm's 2 (then the loader sets it), else None."""
    stride = int(stem.conv.stride[0])
    return None if stride == _TIMM_STEM_STRIDE else stride


def mobilenetv3_timm_spec(space: MobileNetV3Space, arch: Arch, subnet: nn.Module) -> TimmModelSpec:
    """``subnet`` (a :class:`MobileNetV3Subnet` of ``arch``) as timm's ``MobileNetV3``."""
    if not isinstance(subnet, MobileNetV3Subnet):
        raise TypeError(f"expected a MobileNetV3Subnet, got {type(subnet).__name__}")
    default_act = _activation(subnet.stem)
    depths = [int(arch[space.depth_label(stage)]) for stage in range(1, len(space.stages) + 1)]
    arch_def, modules = mbconv_arch_def(list(subnet.blocks), [1, *depths], default_act)
    if _activation(subnet.final_expand) is not default_act or _activation(subnet.feature_mix) is not default_act:
        raise ValueError("the head's activations differ from the stem's; timm's MobileNetV3 uses one")
    head = len(arch_def)
    arch_def.append([f"cn_r1_k1_s1_c{subnet.final_expand.conv.out_channels}"])
    modules.update(
        {
            "stem.conv": "conv_stem",
            "stem.bn": "bn1",
            "final_expand.conv": f"blocks.{head}.0.conv",
            "final_expand.bn": f"blocks.{head}.0.bn1",
            "feature_mix.conv": "conv_head",
            "classifier": "classifier",
        }
    )
    args: dict[str, Any] = {
        "block_args": arch_def,
        "num_classes": subnet.classifier.out_features,
        "stem_size": subnet.stem.conv.out_channels,
        "fix_stem": True,
        "num_features": subnet.feature_mix.conv.out_channels,
        "head_bias": False,
        "act_layer": TIMM_ACTIVATIONS[default_act][0],
        "norm_eps": batch_norm_eps(subnet),
        "se_layer": {"gate_layer": "hard_sigmoid", "force_act_layer": "relu", "rd_round_fn": "round_channels"},
        "drop_rate": subnet.dropout.p,
    }
    return TimmModelSpec("MobileNetV3", args, renamed_state(subnet.state_dict(), modules), stem_stride(subnet.stem))
