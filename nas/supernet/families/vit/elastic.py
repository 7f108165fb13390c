"""The elastic vision-transformer supernet, made of timm's modules, with AutoFormer's weight entanglement.

The supernet holds timm's ``PatchEmbed``, ``Block`` (``Attention`` with the space's head width, ``Mlp``), ``LayerNorm``
and a linear head at the space's largest sizes, under the names timm's ``VisionTransformer`` uses (``cls_token``,
``pos_embed``, ``patch_embed.proj``, ``blocks.{i}.norm1``, ``attn.qkv``, ``attn.proj``, ``norm2``, ``mlp.fc1``,
``mlp.fc2``, ``norm``, ``head``). A subnet uses the leading slice of every weight (weight entanglement): the first
``embed_dim`` channels everywhere, the first ``heads * head_dim`` rows of each of the q, k and v chunks of ``qkv``
(a plain prefix of ``qkv`` would mix q with k), the first ``int(embed_dim * mlp_ratio)`` MLP hidden units, and the
first ``depth`` blocks. Its forward is the functional form of timm's, so extraction is slicing and a state-dict
load into timm's own ``VisionTransformer`` (:mod:`.static`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.supernet.base import Supernet
from nas.supernet.extraction import adopt_copies
from nas.supernet.families.vit.costs import vit_macs, vit_params
from nas.supernet.families.vit.static import timm_block, vit_subnet
from search_spaces import Arch, ConfigError
from search_spaces.autoformer import AutoFormerSpace

__all__ = ["ElasticViT"]


def _resample_pos_embed(pos_embed: Tensor, grid: tuple[int, int], old_grid: tuple[int, int]) -> Tensor:
    """timm's position-embedding resampling (bicubic, antialiased; the class token's entry kept)."""
    from timm.layers import resample_abs_pos_embed

    return resample_abs_pos_embed(pos_embed, new_size=list(grid), old_size=list(old_grid), num_prefix_tokens=1)


class ElasticViT(Supernet):
    """Weight-sharing ViT supernet over an :class:`~search_spaces.autoformer.AutoFormerSpace`.

    Args:
        space: the search space.
        num_classes: classifier outputs.
        dropout: dropout before the classifier (timm's ``drop_rate``), also set on extracted subnets.
    """

    space: AutoFormerSpace

    def __init__(self, space: AutoFormerSpace, num_classes: int = 1000, dropout: float = 0.0):
        from timm.layers import LayerNorm, PatchEmbed, trunc_normal_
        from timm.models.vision_transformer import init_weights_vit_timm

        super().__init__(space, num_classes)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout={dropout} must be in [0, 1)", field="dropout", value=dropout)
        self.dropout_rate = float(dropout)
        width = space.embed_dims[-1]
        self.patch_embed = PatchEmbed(
            img_size=space.resolution,
            patch_size=space.patch_size,
            in_chans=3,
            embed_dim=width,
            strict_img_size=False,
            output_fmt="NHWC",
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, space.tokens, width))
        widest = {"num_heads": space.num_heads[-1], "mlp_ratio": space.mlp_ratios[-1], "attn_head_dim": space.head_dim}
        self.blocks = nn.ModuleList(timm_block(width, widest) for _ in range(space.max_depth))
        self.norm = LayerNorm(width)
        self.head_drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)
        trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            init_weights_vit_timm(module)
        self._layers: list[tuple[int, int]] = []
        self.set_active(space.largest())

    @property
    def constructor_options(self) -> dict[str, object]:
        return {"dropout": self.dropout_rate}

    # ------------------------------------------------------------------ choosing a subnet
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` (of this supernet's space) for the following forward passes."""
        arch = self.check_arch(arch)
        width = int(arch["embed_dim"])
        self._layers = [(heads, int(width * ratio)) for heads, ratio in self.space.layers(arch)]
        self._active_arch = arch

    # ------------------------------------------------------------------ computing
    def forward(self, x: Tensor) -> Tensor:
        width = int(self._active_arch["embed_dim"])
        proj = self.patch_embed.proj
        x = self.patch_embed.norm(_patches(x, proj.weight[:width], proj.bias[:width], self.space.patch_size))
        batch, rows, cols, _ = x.shape
        pos_embed = _resample_pos_embed(self.pos_embed[:, :, :width], (rows, cols), (self.space.grid,) * 2)
        x = torch.cat([self.cls_token[:, :, :width].expand(batch, -1, -1), x.view(batch, -1, width)], dim=1)
        x = x + pos_embed
        for block, (heads, hidden) in zip(self.blocks, self._layers):
            x = x + self._attention(block, _norm(block.norm1, x, width), heads)
            x = x + self._mlp(block, _norm(block.norm2, x, width), hidden)
        x = _norm(self.norm, x, width)[:, 0]
        return F.linear(self.head_drop(x), self.head.weight[:, :width], self.head.bias)

    def _attention(self, block: nn.Module, x: Tensor, heads: int) -> Tensor:
        """timm's ``Attention`` on the leading ``heads`` heads of each of q, k and v."""
        attn, head_dim = block.attn, self.space.head_dim
        batch, tokens, width = x.shape
        inner = heads * head_dim
        weight, bias = _qkv_slice(attn.qkv.weight, attn.qkv.bias, inner, width)
        qkv = F.linear(x, weight, bias).reshape(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        dropout = attn.attn_drop.p if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        x = x.transpose(1, 2).reshape(batch, tokens, inner)
        return attn.proj_drop(F.linear(x, attn.proj.weight[:width, :inner], attn.proj.bias[:width]))

    @staticmethod
    def _mlp(block: nn.Module, x: Tensor, hidden: int) -> Tensor:
        """timm's ``Mlp`` on the leading ``hidden`` units."""
        mlp, width = block.mlp, x.shape[-1]
        x = mlp.drop1(mlp.act(F.linear(x, mlp.fc1.weight[:hidden, :width], mlp.fc1.bias[:hidden])))
        return mlp.drop2(F.linear(mlp.norm(x), mlp.fc2.weight[:width, :hidden], mlp.fc2.bias[:width]))

    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1 (attention matmuls included)."""
        return vit_macs(self.space, arch, self.num_classes)

    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s extracted subnet."""
        return vit_params(self.space, arch, self.num_classes)

    # ------------------------------------------------------------------ extraction
    def extract(self, arch: Arch | None = None) -> nn.Module:
        """timm's ``VisionTransformer`` computing ``arch`` (default: the active arch) with copies of its weights,
        in the supernet's train/eval mode; ``arch`` stays active."""
        state = self.active_state_dict(arch)
        subnet = vit_subnet(self.space, self._active_arch, self.num_classes, dropout=self.dropout_rate, device="meta")
        return adopt_copies(subnet, state).train(self.training)

    def active_state_dict(self, arch: Arch | None = None) -> dict[str, Tensor]:
        """The state dict of timm's ``VisionTransformer`` for ``arch`` (default: active), sliced from the supernet."""
        if arch is not None:
            self.set_active(arch)
        width = int(self._active_arch["embed_dim"])
        state = {
            "cls_token": self.cls_token[:, :, :width],
            "pos_embed": self.pos_embed[:, :, :width],
            "patch_embed.proj.weight": self.patch_embed.proj.weight[:width],
            "patch_embed.proj.bias": self.patch_embed.proj.bias[:width],
        }
        for index, (block, (heads, hidden)) in enumerate(zip(self.blocks, self._layers)):
            inner = heads * self.space.head_dim
            qkv_weight, qkv_bias = _qkv_slice(block.attn.qkv.weight, block.attn.qkv.bias, inner, width)
            prefix = f"blocks.{index}."
            state.update(
                {
                    prefix + "norm1.weight": block.norm1.weight[:width],
                    prefix + "norm1.bias": block.norm1.bias[:width],
                    prefix + "attn.qkv.weight": qkv_weight,
                    prefix + "attn.qkv.bias": qkv_bias,
                    prefix + "attn.proj.weight": block.attn.proj.weight[:width, :inner],
                    prefix + "attn.proj.bias": block.attn.proj.bias[:width],
                    prefix + "norm2.weight": block.norm2.weight[:width],
                    prefix + "norm2.bias": block.norm2.bias[:width],
                    prefix + "mlp.fc1.weight": block.mlp.fc1.weight[:hidden, :width],
                    prefix + "mlp.fc1.bias": block.mlp.fc1.bias[:hidden],
                    prefix + "mlp.fc2.weight": block.mlp.fc2.weight[:width, :hidden],
                    prefix + "mlp.fc2.bias": block.mlp.fc2.bias[:width],
                }
            )
        state.update(
            {
                "norm.weight": self.norm.weight[:width],
                "norm.bias": self.norm.bias[:width],
                "head.weight": self.head.weight[:, :width],
                "head.bias": self.head.bias,
            }
        )
        return state

    # ------------------------------------------------------------------ seeding from a timm ViT
    @torch.no_grad()
    def load_timm_vit(self, state: Mapping[str, Tensor]) -> Arch:
        """Write a timm ``VisionTransformer``'s weights (DeiT-Tiny's) into the leading slices of this supernet's,
        so that the matching subnet computes that network exactly; returns that subnet's arch (made active).

        The network must be one of the space's subnets: same patch size and token count, class token, qkv bias,
        token pooling, the space's head width, and as many classes as this supernet.

        Raises:
            ConfigError: naming the tensor that does not fit and what the space allows.
        """
        arch = self._arch_of_timm_state(state)
        self.set_active(arch)
        targets = self.active_state_dict()
        missing = sorted(set(targets) - set(state))
        if missing:
            raise ConfigError(f"the timm state dict has no {missing[0]!r}", field="state_dict", value=missing[0])
        for key, target in targets.items():
            source = state[key]
            if tuple(source.shape) != tuple(target.shape):
                raise ConfigError(
                    f"{key} has shape {tuple(source.shape)}; the space's subnet has {tuple(target.shape)}",
                    field=key,
                    value=tuple(source.shape),
                )
            if key.endswith("attn.qkv.weight") or key.endswith("attn.qkv.bias"):
                _write_qkv(self, key, source)
            else:
                target.copy_(source)  # a view into the supernet's tensor
        return arch

    def _arch_of_timm_state(self, state: Mapping[str, Tensor]) -> Arch:
        space = self.space
        if "cls_token" not in state or "patch_embed.proj.weight" not in state:
            raise ConfigError("not a timm VisionTransformer state dict with a class token", field="state_dict")
        width, _, patch, _ = state["patch_embed.proj.weight"].shape
        if patch != space.patch_size:
            raise ConfigError(
                f"patch size {patch} is not the space's {space.patch_size}", field="patch_size", value=patch
            )
        depth = len({key.split(".")[1] for key in state if key.startswith("blocks.")})
        values: dict[str, Any] = {"resolution": space.resolution, "embed_dim": int(width), "depth": depth}
        for layer in range(1, depth + 1):
            rows = state[f"blocks.{layer - 1}.attn.qkv.weight"].shape[0]
            hidden = state[f"blocks.{layer - 1}.mlp.fc1.weight"].shape[0]
            values[space.layer_label(layer, "heads")] = rows // (3 * space.head_dim)
            ratio = next((r for r in space.mlp_ratios if int(width * r) == hidden), hidden / width)
            values[space.layer_label(layer, "mlp_ratio")] = float(ratio)
        return self.check_arch(values)

    @torch.no_grad()
    def sort_channels(self) -> None:
        """Not offered: reordering embedding channels would have to permute every block and the position
        embedding alike (AutoFormer trains without it)."""
        raise ConfigError(
            f"sort_channels is not supported by elastic ViT supernets ({self.space.name!r}): weight entanglement "
            "keeps the leading slices, trained as they are",
            field="sort_channels",
        )


def _patches(x: Tensor, weight: Tensor, bias: Tensor, patch: int) -> Tensor:
    """timm's ``PatchEmbed`` with ``output_fmt="NHWC"`` on the leading ``weight`` rows (image sides must be
    multiples of the patch, as timm checks)."""
    rows, cols = x.shape[-2:]
    if rows % patch or cols % patch:
        raise ConfigError(
            f"image of {rows}x{cols} is not a multiple of the patch size {patch}", field="images", value=(rows, cols)
        )
    return F.conv2d(x, weight, bias, stride=patch).permute(0, 2, 3, 1)


def _norm(norm: nn.LayerNorm, x: Tensor, width: int) -> Tensor:
    """timm's ``LayerNorm`` over the leading ``width`` channels."""
    return F.layer_norm(x, (width,), norm.weight[:width], norm.bias[:width], norm.eps)


def _qkv_slice(weight: Tensor, bias: Tensor, inner: int, width: int) -> tuple[Tensor, Tensor]:
    """The qkv projection of ``inner`` channels per q, k and v from the widest one (rows are q, k, v chunks)."""
    chunk = weight.shape[0] // 3
    sliced_weight = weight.view(3, chunk, -1)[:, :inner, :width].reshape(3 * inner, width)
    return sliced_weight, bias.view(3, chunk)[:, :inner].reshape(3 * inner)


def _write_qkv(supernet: ElasticViT, key: str, source: Tensor) -> None:
    """Copy a timm qkv weight or bias into the leading rows of each of the supernet's q, k and v chunks."""
    index = int(key.split(".")[1])
    module = supernet.blocks[index].attn.qkv
    target = module.weight if key.endswith("weight") else module.bias
    chunk = target.shape[0] // 3
    inner = source.shape[0] // 3
    view = target.view(3, chunk, *target.shape[1:])
    if source.dim() == 2:
        view[:, :inner, : source.shape[1]].copy_(source.view(3, inner, source.shape[1]))
    else:
        view[:, :inner].copy_(source.view(3, inner))
