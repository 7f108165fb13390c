"""ProxylessNAS subnets as native timm models (``nas export --format timm``).

Every static subnet of the once-for-all ProxylessNAS spaces is exactly timm's ``EfficientNet`` built from an
``arch_def`` of MBConv block strings (the fixed first block ``ds_r1_k3_s1_e1_c24``, one ``ir_r1_k{k}_s{s}_e{e}_c{w}``
per active block, grouped by stage): ReLU6 everywhere, batch-norm epsilon 1e-3, no squeeze-excite, and the
feature-mix layer as timm's conv head (1x1 convolution, batch norm, ReLU6 before pooling). timm's stem has stride
2; the 32x32 space's stride-1 stem is carried as ``stem_stride``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nas.supernet.families.mobilenetv3.timm_export import (
    TIMM_ACTIVATIONS,
    mbconv_arch_def,
    stem_stride,
)
from nas.supernet.families.proxyless.static import ProxylessSubnet
from nas.supernet.timm_model import TimmModelSpec, batch_norm_eps, renamed_state
from search_spaces import Arch, ProxylessSpace

__all__ = ["proxyless_timm_spec"]


def proxyless_timm_spec(space: ProxylessSpace, arch: Arch, subnet: nn.Module) -> TimmModelSpec:
    """``subnet`` (a :class:`ProxylessSubnet` of ``arch``) as timm's ``EfficientNet``."""
    if not isinstance(subnet, ProxylessSubnet):
        raise TypeError(f"expected a ProxylessSubnet, got {type(subnet).__name__}")
    act = type(subnet.stem.act)
    if act not in TIMM_ACTIVATIONS or type(subnet.feature_mix.act) is not act:
        raise ValueError("timm's EfficientNet takes one activation for the stem and the head")
    depths = [space.stage_depth(arch, stage) for stage in range(1, len(space.stages) + 1)]
    arch_def, modules = mbconv_arch_def(list(subnet.blocks), [1, *depths], act)
    modules.update(
        {
            "stem.conv": "conv_stem",
            "stem.bn": "bn1",
            "feature_mix.conv": "conv_head",
            "feature_mix.bn": "bn2",
            "classifier": "classifier",
        }
    )
    args: dict[str, Any] = {
        "block_args": arch_def,
        "num_classes": subnet.classifier.out_features,
        "stem_size": subnet.stem.conv.out_channels,
        "fix_stem": True,
        "num_features": subnet.feature_mix.conv.out_channels,
        "act_layer": TIMM_ACTIVATIONS[act][0],
        "norm_eps": batch_norm_eps(subnet),
        "drop_rate": subnet.dropout.p,
    }
    return TimmModelSpec("EfficientNet", args, renamed_state(subnet.state_dict(), modules), stem_stride(subnet.stem))
