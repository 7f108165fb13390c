"""The cost model of elastic ViT subnets: MACs and parameters in closed form, memory composed from memoized
measurements of timm's own modules on the meta device.

- **MACs** are what ``FlopCounterMode`` / 2 counts on the extracted timm model run on the meta device: the patch
  convolution, every linear layer and the two attention matmuls (``q @ k^T`` and ``scores @ v``, ``heads * N^2 *
  head_dim`` each; on meta PyTorch runs ``scaled_dot_product_attention``'s math path, and on CUDA the counter has
  the same formula for the fused kernels). Biases, LayerNorm, GELU, softmax and additions count zero, as the counter
  counts them. (On CPU tensors PyTorch 2.14's counter has no formula for the fused CPU attention kernel and misses
  the attention matmuls; the meta count is the real work.)
- **Parameters**: every tensor of the extracted model (no buffers exist).
- **Memory** (:data:`~nas.supernet.part_costs.MEMORY_METRICS`): the attention matrix is included, because the
  estimators of :mod:`predictors.memory` run the math path, which materialises ``heads x N x N`` scores and their
  softmax (what a microcontroller runtime holds too; the fused CPU/CUDA kernels hold less). ``peak_memory`` is the
  eager fp32 inference peak by tensor lifetimes: the largest of the embedding and head (a depth-0 timm model), the
  first block plus the image, and any later block plus the image and the block chain's input, which the caller
  holds while ``model.blocks`` runs. ``mcu_memory`` is MCUNet's int8 layer-by-layer peak (nothing but a residual
  input outlives a layer). ``training_memory`` adds weights, gradients and optimizer state to the activations
  autograd saves, summed over the same pieces (each block saves its own input, the final norm the last block's
  output, so nothing is counted twice). The family's tests check each composition against the whole model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from torch import nn

from nas.supernet.families.vit.static import timm_block
from nas.supernet.part_costs import MemoryCosts, memory_figures
from predictors.memory import (
    OPTIMIZER_STATE_FACTORS,
    TrainingMemory,
    inference_peak_bytes,
    mcunet_peak_bytes,
    training_memory,
)
from search_spaces import Arch, ConfigError
from search_spaces.autoformer import AutoFormerSpace
from search_spaces.checks import check_at_least

__all__ = ["ViTCosts", "ViTMemory", "vit_macs", "vit_params"]

_FLOAT32 = 4
_Piece = tuple[nn.Module, tuple[int, ...]]
"""A module measured on the meta device and the input shape it is measured at."""


def _layer_shapes(space: AutoFormerSpace, arch: Arch) -> list[tuple[int, int]]:
    """``(attention inner width, MLP hidden width)`` of every layer of ``arch``."""
    width = int(arch["embed_dim"])
    return [(heads * space.head_dim, int(width * ratio)) for heads, ratio in space.layers(arch)]


def vit_macs(space: AutoFormerSpace, arch: Arch, num_classes: int) -> int:
    """Multiply-accumulates of ``arch`` at batch 1 as ``FlopCounterMode`` / 2 counts them on the meta device."""
    width, tokens, patches = int(arch["embed_dim"]), space.tokens, space.grid**2
    total = patches * width * 3 * space.patch_size**2 + width * num_classes
    for inner, hidden in _layer_shapes(space, arch):
        total += tokens * width * 3 * inner  # qkv
        total += 2 * tokens * tokens * inner  # q @ k^T and scores @ v over every head
        total += tokens * inner * width  # proj
        total += 2 * tokens * width * hidden  # fc1, fc2
    return total


def vit_params(space: AutoFormerSpace, arch: Arch, num_classes: int) -> int:
    """Parameters of ``arch``'s timm ``VisionTransformer``."""
    width = int(arch["embed_dim"])
    total = width * 3 * space.patch_size**2 + width  # patch embedding
    total += width + space.tokens * width  # class token, position embedding
    for inner, hidden in _layer_shapes(space, arch):
        total += 4 * width  # norm1, norm2
        total += 3 * inner * (width + 1) + width * (inner + 1)  # qkv, proj
        total += hidden * (width + 1) + width * (hidden + 1)  # fc1, fc2
    return total + 2 * width + (width + 1) * num_classes  # final norm, head


@lru_cache(maxsize=64)
def _embed_and_head(space: AutoFormerSpace, width: int, num_classes: int) -> nn.Module:
    """A depth-0 timm ``VisionTransformer`` of ``width`` (patch and position embedding, final norm, head), meta."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=space.resolution,
        patch_size=space.patch_size,
        num_classes=num_classes,
        embed_dim=width,
        depth=0,
        num_heads=space.num_heads[0],
        qkv_bias=True,
        dynamic_img_size=True,
        weight_init="skip",
        device="meta",
    ).eval()


@lru_cache(maxsize=256)
def _block(space: AutoFormerSpace, width: int, heads: int, ratio: float) -> nn.Module:
    spec = {"num_heads": heads, "mlp_ratio": ratio, "attn_head_dim": space.head_dim}
    return timm_block(width, spec, "meta").eval()


@lru_cache(maxsize=4096)
def _peak(module: nn.Module, shape: tuple[int, ...]) -> int:
    return inference_peak_bytes(module, shape)


@lru_cache(maxsize=4096)
def _mcu_peak(module: nn.Module, shape: tuple[int, ...], bytes_per_element: int) -> int:
    return mcunet_peak_bytes(module, shape, bytes_per_element)


@lru_cache(maxsize=4096)
def _saved(module: nn.Module, shape: tuple[int, ...]) -> int:
    return training_memory(module, shape, "sgd").activations_bytes


class ViTMemory:
    """Weights, inference peak, MCUNet int8 peak and training memory of an AutoFormer space's archs (float32)."""

    def __init__(self, space: AutoFormerSpace, num_classes: int):
        self.space, self.num_classes = space, num_classes

    def _pieces(
        self, arch: Arch, batch: int
    ) -> tuple[tuple[nn.Module, tuple[int, ...]], list[tuple[nn.Module, tuple[int, ...]]]]:
        """The embedding-and-head model with its image shape, and every block with its token shape."""
        check_at_least(batch=(batch, 1))
        space, width = self.space, int(arch["embed_dim"])
        outer = (_embed_and_head(space, width, self.num_classes), (batch, 3, space.resolution, space.resolution))
        tokens = (batch, space.tokens, width)
        blocks = [(_block(space, width, heads, ratio), tokens) for heads, ratio in space.layers(arch)]
        return outer, blocks

    def weights_bytes(self, arch: Arch, dtype: str = "float32") -> int:
        """Bytes of the parameters stored as ``dtype`` (``float32``, ``float16``, ``bfloat16`` or ``int8``)."""
        sizes = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}
        if dtype not in sizes:
            raise ConfigError(
                f"dtype={dtype!r} not in {sorted(sizes)}", field="dtype", value=dtype, allowed=sorted(sizes)
            )
        return sizes[dtype] * vit_params(self.space, arch, self.num_classes)

    def inference_peak_bytes(self, arch: Arch, batch: int = 1) -> int:
        """Peak activation bytes of a float32 eager forward (the input image and the attention matrix included)."""
        (outer, image_shape), blocks = self._pieces(arch, batch)
        image = _FLOAT32 * batch * 3 * self.space.resolution**2
        chain_input = _FLOAT32 * batch * self.space.tokens * int(arch["embed_dim"])
        peaks = [_peak(block, shape) for block, shape in blocks]
        later = (peak + image + chain_input for peak in peaks[1:])
        return max(_peak(outer, image_shape), peaks[0] + image, *later)

    def mcunet_peak_bytes(self, arch: Arch, bytes_per_element: int = 1) -> int:
        """MCUNet's peak SRAM rule at ``bytes_per_element`` (1: int8), batch 1."""
        (outer, image_shape), blocks = self._pieces(arch, 1)
        return max(_mcu_peak(module, shape, bytes_per_element) for module, shape in [(outer, image_shape), *blocks])

    def training(self, arch: Arch, batch: int, optimizer: str = "sgd_momentum") -> TrainingMemory:
        """Bytes resident during a training step at ``batch`` with ``optimizer``'s state."""
        if optimizer not in OPTIMIZER_STATE_FACTORS:
            raise ConfigError(
                f"optimizer={optimizer!r} not in {sorted(OPTIMIZER_STATE_FACTORS)}",
                field="optimizer",
                value=optimizer,
                allowed=sorted(OPTIMIZER_STATE_FACTORS),
            )
        (outer, image_shape), blocks = self._pieces(arch, batch)
        weights = self.weights_bytes(arch)
        activations = _saved(outer, image_shape) + sum(_saved(block, shape) for block, shape in blocks)
        state = int(weights * OPTIMIZER_STATE_FACTORS[optimizer])
        return TrainingMemory(weights, 0, weights, state, activations, 2 * weights + state + activations)

    def report(self, arch: Arch, batch: int = 1, optimizer: str = "sgd_momentum") -> dict[str, Any]:
        """Every figure, for ``nas arch show`` and model cards."""
        return memory_figures(self, arch, batch, optimizer)


class ViTCosts(MemoryCosts):
    """MACs, parameters and memory of an :class:`~search_spaces.autoformer.AutoFormerSpace`'s subnets."""

    space: AutoFormerSpace
    memory: ViTMemory

    def __init__(self, space: AutoFormerSpace, num_classes: int):
        super().__init__(space, num_classes, ViTMemory(space, num_classes))

    def macs(self, arch: Arch) -> int:
        return vit_macs(self.space, arch, self.num_classes)

    def params(self, arch: Arch) -> int:
        return vit_params(self.space, arch, self.num_classes)
