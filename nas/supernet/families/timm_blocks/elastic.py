"""The elastic supernet over a timm ``arch_def`` network, under timm's own parameter names.

The supernet holds the modules of a timm model built at every block's largest kernel and expand ratio
(``conv_stem``, ``bn1``, ``blocks.{stage}.{block}.conv_pw`` / ``bn1`` / ``conv_dw`` / ``se`` / ``conv_pwl`` ...,
``conv_head``, ``classifier``), widened where a smaller expand ratio needs more squeeze-excite units, plus identity
initialised ``transform_{K}to{k}`` matrices on every elastic convolution (once-for-all's kernel transform: a smaller
kernel is the centre of the next larger one passed through a learned ``k*k x k*k`` matrix).

An elastic block runs timm's own block module of the active configuration (built once on the meta device) with the
supernet's tensors sliced to its shapes (``torch.func.functional_call``), so the supernet computes exactly what the
extracted timm model computes: :meth:`TimmBlocksSupernet.extract` builds timm's class from the emitted ``arch_def``
and gives it copies of the same tensors, which load with ``strict=True`` and no renaming.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from nas.supernet.base import Supernet
from nas.supernet.extraction import adopt_copies
from nas.supernet.families.timm_blocks.describe import TimmBlock, TimmNet, arch_def, block_string, build_timm
from nas.supernet.families.timm_blocks.parts import block_builder
from nas.supernet.families.timm_blocks.spaces import timm_net
from nas.supernet.registry import cost_model
from search_spaces import Arch, ConfigError
from search_spaces.timm_blocks import TimmBlocksSpace

__all__ = ["TimmBlocksSupernet"]

_Key = tuple[int, int, int, float]


def _transform_name(larger: int, smaller: int) -> str:
    return f"transform_{larger}to{smaller}"


def kernel_weight(conv: nn.Module, weight: Tensor, kernel: int, kernels: tuple[int, ...]) -> Tensor:
    """``weight`` (``(out, in, K, K)``, K the largest of ``kernels``) at ``kernel``: centre crops chained through
    ``conv``'s ``transform_{K}to{k}`` matrices, largest first."""
    source = weight.shape[-1]
    for target in sorted(kernels, reverse=True):
        if target >= source or target < kernel:
            continue
        start = (source - target) // 2
        centre = weight[:, :, start : start + target, start : start + target]
        flat = centre.reshape(-1, target * target)
        matrix = getattr(conv, _transform_name(source, target))
        weight = F.linear(flat, matrix).reshape(*centre.shape)
        source = target
    return weight


class TimmBlocksSupernet(Supernet):
    """Weight-sharing supernet over a :class:`~search_spaces.timm_blocks.TimmBlocksSpace`.

    Args:
        space: the space (one of the family's).
        num_classes: classifier outputs.
        dropout: the classifier's dropout rate (timm's ``drop_rate``).
    """

    space: TimmBlocksSpace

    def __init__(self, space: TimmBlocksSpace, num_classes: int = 1000, dropout: float = 0.1):
        super().__init__(space, num_classes)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout!r} must lie in [0, 1)", field="dropout", value=dropout)
        self.dropout_rate = float(dropout)
        self.net: TimmNet = timm_net(space)
        self._build_block = block_builder(self.net)
        self._templates: dict[_Key, nn.Module] = {}
        largest = [
            [block_string(self.net, b, max(b.kernels), max(b.expands)) for b in blocks] for blocks in self.net.stages
        ]
        model = build_timm(self.net, largest, num_classes, self.dropout_rate)
        for name, child in model.named_children():
            self.add_module(name, child)
        self.timm_class = self.net.timm_class
        self._widen_and_add_transforms()
        self._active: list[list[tuple[nn.Module, nn.Module | None, str]]] = []
        self.set_active(space.largest())

    @property
    def constructor_options(self) -> dict[str, Any]:
        return {"dropout": self.dropout_rate}

    # ------------------------------------------------------------------ construction
    def _elastic(self, block: TimmBlock) -> bool:
        return len(block.kernels) > 1 or len(block.expands) > 1

    def _template(self, stage: int, index: int, kernel: int, expand: float) -> nn.Module:
        """timm's block module of this configuration, on the meta device (shapes and code, no memory)."""
        key = (stage, index, kernel, float(expand))
        template = self._templates.get(key)
        if template is None:
            block = self.net.stages[stage][index]
            template = self._build_block(block.in_channels, block_string(self.net, block, kernel, expand), "meta")
            self._templates[key] = template
        return template

    @torch.no_grad()
    def _widen_and_add_transforms(self) -> None:
        """Grow every tensor of an elastic block to the largest shape any of its configurations needs (a smaller
        expand ratio may round to more squeeze-excite units), and add the kernel transforms."""
        for stage, blocks in enumerate(self.net.stages):
            for index, block in enumerate(blocks):
                if not self._elastic(block):
                    continue
                module = self.blocks[stage][index]
                largest: dict[str, torch.Size] = {}
                for expand in block.expands:
                    template = self._template(stage, index, max(block.kernels), expand)
                    for name, tensor in template.state_dict().items():
                        current = largest.get(name)
                        largest[name] = tensor.shape if current is None else torch.Size(map(max, current, tensor.shape))
                for name, shape in largest.items():
                    owner_name, _, leaf = name.rpartition(".")
                    owner = module.get_submodule(owner_name)
                    current = getattr(owner, leaf)
                    if current.shape != shape:
                        grown = torch.zeros(shape, dtype=current.dtype)
                        if leaf == "running_var" or (leaf == "weight" and current.dim() == 1):
                            grown.fill_(1.0)
                        elif current.dim() > 1:
                            nn.init.normal_(grown, 0.0, float(current.std()) if current.numel() > 1 else 0.01)
                        grown[tuple(slice(0, n) for n in current.shape)] = current
                        if isinstance(current, nn.Parameter):
                            setattr(owner, leaf, nn.Parameter(grown, current.requires_grad))
                        else:
                            owner.register_buffer(leaf, grown)
                if block.elastic_kernel:
                    conv = module.get_submodule(block.elastic_conv)
                    kernels = sorted(block.kernels)
                    for larger, smaller in zip(kernels[1:], kernels[:-1]):
                        conv.register_parameter(
                            _transform_name(larger, smaller), nn.Parameter(torch.eye(smaller * smaller))
                        )

    # ------------------------------------------------------------------ choosing a subnet
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` (of this supernet's space) for the following forward passes."""
        arch = self.check_arch(arch)
        active = []
        for stage in self.space.stages:
            blocks = self.net.stages[stage.index]
            chosen = []
            for position in range(1, self.space.depth(arch, stage) + 1):
                block = blocks[position - 1]
                module = self.blocks[stage.index][position - 1]
                prefix = f"blocks.{stage.index}.{position - 1}."
                if not self._elastic(block):
                    chosen.append((module, None, prefix))
                    continue
                kernel, expand = self.space.block_choice(arch, stage, position)
                chosen.append((module, self._template(stage.index, position - 1, kernel, float(expand)), prefix))
            active.append(chosen)
        self._active = active
        self._active_arch = arch

    # ------------------------------------------------------------------ computing
    def fitted(self, key: str, shape: torch.Size) -> Tensor:
        """The supernet tensor ``key`` (a timm state-dict key) at ``shape``: leading slices, and the kernel
        transform for an elastic convolution's smaller kernel (views into the supernet where possible)."""
        owner_name, _, leaf = key.rpartition(".")
        owner = self.get_submodule(owner_name)
        tensor = getattr(owner, leaf)
        if tensor.shape == shape:
            return tensor
        if tensor.dim() == 4 and shape[-1] < tensor.shape[-1]:
            parts = owner_name.split(".")
            block = self.net.stages[int(parts[1])][int(parts[2])]
            return kernel_weight(owner, tensor[: shape[0], : shape[1]], shape[-1], block.kernels)
        return tensor[tuple(slice(0, n) for n in shape)]

    def _run(self, template: nn.Module, prefix: str, x: Tensor) -> Tensor:
        state = {name: self.fitted(prefix + name, tensor.shape) for name, tensor in _tensors(template)}
        template.train(self.training)
        return functional_call(template, state, (x,), strict=True)

    def forward_features(self, x: Tensor) -> Tensor:
        x = self.bn1(self.conv_stem(x))
        for stage in self._active:
            for module, template, prefix in stage:
                x = module(x) if template is None else self._run(template, prefix, x)
        for stage_index in range(len(self._active), len(self.blocks)):  # stages beyond the space's (none so far)
            x = self.blocks[stage_index](x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x)
        if self.timm_class == "EfficientNet":
            x = self.global_pool(self.bn2(self.conv_head(x)))
        else:
            x = self.global_pool(x)
            x = self.flatten(self.act2(self.norm_head(self.conv_head(x))))
        if self.dropout_rate > 0.0:
            x = F.dropout(x, p=self.dropout_rate, training=self.training)
        return self.classifier(x)

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1 (as FlopCounterMode counts its subnet)."""
        return cost_model(self.space, self.num_classes).macs(self.check_arch(arch))

    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s extracted subnet."""
        return cost_model(self.space, self.num_classes).params(self.check_arch(arch))

    # ------------------------------------------------------------------ extraction
    def arch_def(self, arch: Arch | None = None) -> list[list[str]]:
        """timm's ``arch_def`` of ``arch`` (default: the active one)."""
        return arch_def(self.net, self.space, self.check_arch(arch) if arch is not None else self._active_arch)

    def extract(self, arch: Arch | None = None) -> nn.Module:
        """timm's own model (``MobileNetV3`` / ``EfficientNet``) of ``arch`` (default: the active one), built from
        the emitted ``arch_def``, holding copies of the supernet's weights, in the supernet's train/eval mode."""
        model, state = self._active_model_and_state(arch)
        model = adopt_copies(model, state)
        model.arch, model.space_name = self._active_arch, self.space.name
        return model.train(self.training)

    def active_state_dict(self, arch: Arch | None = None) -> dict[str, Tensor]:
        """The extracted model's state dict for ``arch`` (default: the active one) under timm's keys; sliced tensors
        (batch-norm statistics among them) are views into the supernet's."""
        return self._active_model_and_state(arch)[1]

    def _active_model_and_state(self, arch: Arch | None) -> tuple[nn.Module, dict[str, Tensor]]:
        """timm's model of ``arch`` on the meta device and the supernet's tensors fitted to its state dict."""
        if arch is not None:
            self.set_active(arch)
        model = build_timm(self.net, self.arch_def(), self.num_classes, self.dropout_rate, device="meta")
        return model, {key: self.fitted(key, tensor.shape) for key, tensor in _tensors(model)}

    # ------------------------------------------------------------------ warm start from timm weights
    @torch.no_grad()
    def load_timm_state_dict(self, state: Mapping[str, Tensor]) -> None:
        """Load the weights of the timm model the space derives from (any of its archs' state dicts).

        Each tensor fills the leading slice of the supernet's; a smaller kernel is placed in the centre of the
        larger one with zeros around it, and the input columns of wider layers are zero beyond it, so the original
        arch (and every larger kernel or expand ratio, until trained) computes what the timm model computes. A
        classifier of another class count is left as initialised.

        Raises:
            ConfigError: a key the supernet does not have, a tensor larger than the supernet's, or a missing key.
        """
        own = dict(_tensors(self))
        missing = [key for key in own if key not in state and ".transform_" not in key]
        if missing:
            raise ConfigError(
                f"the weights lack {len(missing)} tensors of {self.net.model!r}, e.g. {missing[0]!r}",
                field="weights",
                value=missing[0],
            )
        for key, value in state.items():
            target = own.get(key)
            if target is None:
                raise ConfigError(
                    f"weights key {key!r} is not a tensor of {self.net.model!r}'s supernet", field="weights", value=key
                )
            if key.startswith("classifier.") and value.shape[0] != target.shape[0]:
                continue
            if value.dim() != target.dim() or any(v > t for v, t in zip(value.shape, target.shape)):
                raise ConfigError(
                    f"weights {key!r} has shape {tuple(value.shape)}, larger than the supernet's {tuple(target.shape)}",
                    field="weights",
                    value=key,
                )
            if value.dim() == 0 or value.shape == target.shape:
                target.copy_(value)
                continue
            region = [slice(0, n) for n in value.shape]
            if value.dim() == 4:
                for axis in (2, 3):
                    start = (target.shape[axis] - value.shape[axis]) // 2
                    region[axis] = slice(start, start + value.shape[axis])
            if value.dim() > 1:
                target.zero_()
            target[tuple(region)] = value


def _tensors(module: nn.Module) -> Iterator[tuple[str, Tensor]]:
    """Every parameter and buffer of ``module`` by state-dict key (without copying a state dict)."""
    yield from module.named_parameters()
    yield from module.named_buffers()
