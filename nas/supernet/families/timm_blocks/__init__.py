"""Elastic supernets from timm's ``arch_def`` networks (MobileNetV3, EfficientNet, MnasNet, FBNetV3, MobileNetV4).

Kernel (depthwise, with once-for-all's kernel transform), expand ratio and depth are elastic per block under timm's
own parameter names; an extracted subnet is timm's class built from the emitted ``arch_def`` and loads with
``strict=True``. :func:`from_timm` builds the supernet of any timm model it can parse (registering an ad-hoc space)
and warm-starts it from the model's weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from nas.supernet.families.timm_blocks.describe import TimmNet, arch_def, build_timm, describe, export_args
from nas.supernet.families.timm_blocks.elastic import TimmBlocksSupernet
from nas.supernet.families.timm_blocks.parts import TimmBlocksCosts, TimmBlocksParts
from nas.supernet.families.timm_blocks.spaces import IMAGENET_RESOLUTIONS, REGISTERED, add_space, timm_net
from nas.supernet.part_costs import MEMORY_METRICS
from nas.supernet.registry import Family, create_supernet, family_of, register_family
from nas.supernet.timm_model import TimmModelSpec
from search_spaces import Arch, ConfigError, SearchSpace, list_spaces
from search_spaces.timm_blocks import TimmBlocksSpace

__all__ = ["FAMILY", "TimmBlocksSupernet", "TimmNet", "from_timm", "static_subnet", "timm_export"]


def static_subnet(
    space: TimmBlocksSpace,
    arch: Arch,
    num_classes: int,
    *,
    dropout: float = 0.1,
    device: Any = None,
) -> nn.Module:
    """timm's model of ``arch`` rebuilt from its ``arch_def`` alone (what export files load into); it carries
    ``arch`` and ``space_name`` attributes."""
    net = timm_net(space)
    model = build_timm(net, arch_def(net, space, arch), num_classes, dropout, device)
    model.arch, model.space_name = arch, space.name
    return model


def timm_export(space: SearchSpace, arch: Arch, subnet: nn.Module) -> TimmModelSpec:
    """``subnet`` (the static subnet of ``arch``) as timm's own class with JSON constructor options."""
    assert isinstance(space, TimmBlocksSpace)
    net = timm_net(space)
    num_classes = int(subnet.classifier.out_features)
    args = export_args(net, arch_def(net, space, arch), num_classes, float(getattr(subnet, "drop_rate", 0.0)))
    stride = None if net.stem_stride == 2 else net.stem_stride
    return TimmModelSpec(net.timm_class, args, dict(subnet.state_dict()), stem_stride=stride)


def _family(name: str, spaces: tuple[str, ...]) -> Family:
    return Family(
        name=name,
        spaces=spaces,
        supernet=TimmBlocksSupernet,
        costs=TimmBlocksCosts,
        parts=TimmBlocksParts,
        static_subnet=static_subnet,
        metrics=MEMORY_METRICS,
        timm_export=timm_export,
    )


FAMILY = register_family(_family("timm_blocks", tuple(REGISTERED)))


def _read_weights(weights: str | os.PathLike[str] | Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    if isinstance(weights, Mapping):
        return weights
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"weights file {str(path)!r} does not exist", field="weights", value=str(path))
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(key), Mapping):
            return loaded[key]
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"weights file {str(path)!r} holds no state dict", field="weights", value=str(path))
    return loaded


def from_timm(
    model: str,
    choices: Mapping[str, Any] | None = None,
    weights: str | os.PathLike[str] | Mapping[str, Tensor] | None = None,
    *,
    num_classes: int = 1000,
    dropout: float = 0.1,
) -> TimmBlocksSupernet:
    """The elastic supernet of timm model ``model`` (``"mobilenetv3_large_100"`` or a registered space name such as
    ``"timm_mobilenetv3_large_100"``).

    Args:
        model: a timm model built from an ``arch_def``, or one of the family's space names.
        choices: overrides of the elastic choices: ``kernel`` (depthwise kernels), ``expand`` (expand ratios),
            ``depth_drop`` (trailing blocks a stage may drop), ``resolution``; the originals are always included.
            A model or choice without a registered space registers an ad-hoc one (``timm_<model>[_<digest>]``,
            in this process only).
        weights: the timm model's state dict, or a file holding it (``.safetensors`` or a torch file, loaded with
            ``weights_only=True``), e.g. the file of its ``pretrained_cfg``; None keeps timm's random
            initialisation (nothing is downloaded).
        num_classes: classifier outputs (a classifier of another size in ``weights`` is not loaded).
        dropout: the classifier's dropout rate.

    Raises:
        ConfigError: the model uses a feature that cannot be elastic (named), or a bad choice or weights file.
    """
    if not isinstance(model, str):
        raise ConfigError(f"model must be a timm model name, got {model!r}", field="model", value=model)
    if model in REGISTERED:
        space_name, model = model, REGISTERED[model][0]
    else:
        space_name = f"timm_{model}"
    if choices is not None:
        digest = hashlib.sha1(json.dumps(dict(choices), sort_keys=True, default=str).encode()).hexdigest()[:8]
        space_name = f"timm_{model}_{digest}"
    if space_name not in list_spaces():
        net = describe(model, choices)
        resolutions = tuple((choices or {}).get("resolution", IMAGENET_RESOLUTIONS))
        add_space(space_name, model, resolutions, choices=choices, net=net)
        register_family(_family(f"timm_blocks:{space_name}", (space_name,)))
    elif family_of(space_name) is None:
        raise ConfigError(f"space {space_name!r} exists but is not a timm space", field="model", value=model)
    supernet = create_supernet(space_name, num_classes=num_classes, dropout=dropout)
    assert isinstance(supernet, TimmBlocksSupernet)
    if weights is not None:
        supernet.load_timm_state_dict(_read_weights(weights))
    return supernet
