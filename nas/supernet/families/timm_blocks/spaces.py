"""The timm ``arch_def`` spaces: the registered ones and those :func:`~.from_timm` adds, each with its
:class:`~.describe.TimmNet` read from timm on first use (so registering a space does not import timm)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from nas.supernet.families.timm_blocks.describe import TimmNet, describe, stage_choices
from search_spaces import SearchSpace, register_space
from search_spaces.errors import ConfigError
from search_spaces.timm_blocks import TimmBlocksSpace, TimmStageChoices

__all__ = ["IMAGENET_RESOLUTIONS", "REGISTERED", "SMALL_RESOLUTIONS", "add_space", "timm_net"]

IMAGENET_RESOLUTIONS = tuple(range(128, 225, 16))
"""ImageNet-sized inputs, 128..224 in steps of 16."""
SMALL_RESOLUTIONS = (24, 28, 32)
"""32x32 images (digits, CIFAR-10), as ``ofa_mbv3_small``."""

REGISTERED: dict[str, tuple[str, tuple[int, ...], int | None]] = {
    "timm_mobilenetv3_large_100": ("mobilenetv3_large_100", IMAGENET_RESOLUTIONS, None),
    "timm_efficientnet_b0": ("efficientnet_b0", IMAGENET_RESOLUTIONS, None),
    "timm_fbnetv3_b": ("fbnetv3_b", IMAGENET_RESOLUTIONS, None),
    "timm_mnasnet_100": ("mnasnet_100", IMAGENET_RESOLUTIONS, None),
    "timm_mobilenetv4_conv_small": ("mobilenetv4_conv_small", IMAGENET_RESOLUTIONS, None),
    "timm_mobilenetv3_large_100_small": ("mobilenetv3_large_100", SMALL_RESOLUTIONS, 1),
}
"""Space name -> (timm model, resolutions, stem stride for small images or None)."""

_SOURCES: dict[str, Callable[[], TimmNet]] = {}
_NETS: dict[str, TimmNet] = {}


def timm_net(space: SearchSpace | str) -> TimmNet:
    """The network description of a timm space (read from timm the first time)."""
    name = space if isinstance(space, str) else space.name
    net = _NETS.get(name)
    if net is None:
        if name not in _SOURCES:
            raise ConfigError(f"space {name!r} is not a timm arch_def space", field="space", value=name)
        net = _NETS[name] = _SOURCES[name]()
    return net


def _stages(name: str) -> tuple[TimmStageChoices, ...]:
    return stage_choices(timm_net(name))


def add_space(
    name: str,
    model: str,
    resolutions: tuple[int, ...],
    *,
    stem_stride: int | None = None,
    choices: Mapping[str, Any] | None = None,
    net: TimmNet | None = None,
) -> None:
    """Register space ``name`` over timm model ``model`` (its description read lazily unless ``net`` is given)."""
    _SOURCES[name] = partial(describe, model, choices, stem_stride=stem_stride)
    if net is not None:
        _NETS[name] = net
    space = TimmBlocksSpace(
        name=name,
        model=model,
        resolutions=tuple(resolutions),
        describe=partial(_stages, name),
        stem_stride=stem_stride or 2,
    )
    register_space(name)(lambda: space)


for _name, (_model, _resolutions, _stem_stride) in REGISTERED.items():
    add_space(_name, _model, _resolutions, stem_stride=_stem_stride)
