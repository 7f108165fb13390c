"""The latency parts of an elastic ViT subnet: the patch embedding, one part per transformer layer by (width,
heads, MLP ratio), and the head.

Parts exchange the tensor layout every latency table uses, ``(batch, channels, size, size)``: here the patch grid
``(batch, embed_dim, grid, grid)``. A layer's part turns the grid into its ``grid**2 + 1`` tokens (a zero class token
in front), runs timm's ``Block`` on them and returns the patch tokens as a grid, so it times the real block at the
real token count plus a layout change of one activation (under 1 % of a block's time here; the calibration fit on
whole subnets absorbs it). MACs and parameters of the parts sum to the whole model's (the layout change and the
zero token cost neither, the class token and its position
entry are the embedding part's); memory is not composed from these parts (:mod:`.costs` measures the real modules).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nas.supernet.families.vit.static import timm_block, vit_subnet
from nas.supernet.parts import PartModel, SubnetPart
from search_spaces import Arch
from search_spaces.autoformer import AutoFormerSpace

__all__ = ["ViTParts", "build_part", "subnet_parts"]


class PatchEmbedPart(nn.Module):
    """timm's patch and position embedding (class token included); returns the patch tokens as a grid."""

    def __init__(self, width: int, patch: int, grid: int):
        super().__init__()
        self.proj = nn.Conv2d(3, width, patch, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, width))

    def forward(self, x: Tensor) -> Tensor:
        patches = self.proj(x)
        batch, width, rows, cols = patches.shape
        tokens = torch.cat([self.cls_token.expand(batch, -1, -1), patches.flatten(2).transpose(1, 2)], dim=1)
        tokens = tokens + self.pos_embed
        return tokens[:, 1:].transpose(1, 2).reshape(batch, width, rows, cols)


class BlockPart(nn.Module):
    """One transformer layer (timm's ``Block``) on the patch grid plus a class token."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, head_dim: int):
        super().__init__()
        self.block = timm_block(width, {"num_heads": heads, "mlp_ratio": mlp_ratio, "attn_head_dim": head_dim})

    def forward(self, x: Tensor) -> Tensor:
        batch, width, rows, cols = x.shape
        tokens = torch.cat([x.new_zeros(batch, 1, width), x.flatten(2).transpose(1, 2)], dim=1)
        tokens = self.block(tokens)
        return tokens[:, 1:].transpose(1, 2).reshape(batch, width, rows, cols)


class HeadPart(nn.Module):
    """Final norm of the first token and the classifier."""

    def __init__(self, width: int, num_classes: int):
        super().__init__()
        from timm.layers import LayerNorm

        self.norm = LayerNorm(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.norm(x.flatten(2)[:, :, 0]))


def build_part(part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
    """A freshly initialised eval-mode module for ``part`` (its input is ``part.input_shape(batch)``)."""
    options = dict(part.spec)
    with torch.device(device or "cpu"):
        if part.kind == "embed":
            module: nn.Module = PatchEmbedPart(options["width"], options["patch"], options["grid"])
        elif part.kind == "block":
            module = BlockPart(part.channels, options["heads"], options["mlp_ratio"], options["head_dim"])
        else:
            module = HeadPart(part.channels, options["classes"])
    return module.eval()


def subnet_parts(space: AutoFormerSpace, arch: Arch, num_classes: int) -> list[SubnetPart]:
    """The parts of ``arch``'s subnet in forward order."""
    width, grid = int(arch["embed_dim"]), space.grid
    embed = (("grid", grid), ("patch", space.patch_size), ("width", width))
    parts = [SubnetPart("embed", embed, 3, space.resolution)]
    for heads, ratio in space.layers(arch):
        spec = (("head_dim", space.head_dim), ("heads", heads), ("mlp_ratio", ratio))
        parts.append(SubnetPart("block", spec, width, grid))
    parts.append(SubnetPart("head", (("classes", num_classes),), width, grid))
    return parts


class ViTParts(PartModel):
    """The latency parts of an AutoFormer space (registered as the family's ``parts``)."""

    space: AutoFormerSpace

    def parts(self, arch: Arch) -> list[SubnetPart]:
        return subnet_parts(self.space, arch, self.num_classes)

    def distinct_parts(self) -> list[SubnetPart]:
        """Every width with every (heads, MLP ratio) layer, the embedding and the head."""
        space, seen = self.space, {}
        for width in space.embed_dims:
            for heads in space.num_heads:
                for ratio in space.mlp_ratios:
                    values = {"resolution": space.resolution, "embed_dim": width, "depth": space.depths[0]}
                    for layer in range(1, space.depths[0] + 1):
                        values[space.layer_label(layer, "heads")] = heads
                        values[space.layer_label(layer, "mlp_ratio")] = ratio
                    for part in self.parts(space.validate(values)):
                        seen.setdefault(part.key, part)
        return list(seen.values())

    def build(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        return build_part(part, device)

    def subnet(self, arch: Arch) -> nn.Module:
        return vit_subnet(self.space, arch, self.num_classes).eval()
