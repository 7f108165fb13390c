"""AutoFormer's elastic vision-transformer spaces: embedding width and depth for the whole network, attention heads
and MLP ratio per layer, with a fixed head dimension (AutoFormer, Chen et al., ICCV 2021).

``autoformer_t`` is AutoFormer-T's space (embed dim {192, 216, 240}, depth {12, 13, 14}, heads {3, 4} and MLP
ratio {3.5, 4} per layer, head dim 64, 224 px images in 16 px patches); the subnet of width 192, depth 12, 3 heads
and ratio 4 everywhere is DeiT-Tiny. ``autoformer_t_small`` is the same space scaled for 32x32 images (digits,
CIFAR-10) so that it trains on a few CPU cores: 4 px patches, every width and the head dimension halved and depth
{6, 7, 8}.

Labels: ``resolution``, ``embed_dim``, ``depth`` and per layer ``l{i}_heads``, ``l{i}_mlp_ratio`` (layers count
from 1; layers past the smallest depth exist only when ``depth`` reaches them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search_spaces.arch import Arch, Choice
from search_spaces.base import Decision, SearchSpace
from search_spaces.errors import ConfigError
from search_spaces.registry import register_space

__all__ = ["AutoFormerSpace"]


@dataclass(frozen=True, repr=False)
class AutoFormerSpace(SearchSpace):
    """An elastic ViT space: a width and a depth for the network, heads and MLP ratio per layer.

    Attributes:
        name: the registered name.
        resolution: the input side (one value: the position embedding is learnt for one patch grid).
        patch_size: side of the square patches.
        embed_dims: embedding widths, ascending.
        depths: numbers of transformer layers, ascending.
        num_heads: attention heads per layer, ascending.
        mlp_ratios: MLP hidden width over the embedding width (timm's ``int(dim * mlp_ratio)``), ascending.
        head_dim: width of one attention head (q, k and v each have ``heads * head_dim`` channels).
    """

    name: str
    resolution: int
    patch_size: int
    embed_dims: tuple[int, ...]
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    mlp_ratios: tuple[float, ...]
    head_dim: int

    def __post_init__(self) -> None:
        for field, values in (
            ("embed_dims", self.embed_dims),
            ("depths", self.depths),
            ("num_heads", self.num_heads),
            ("mlp_ratios", self.mlp_ratios),
        ):
            if not values or any(v <= 0 for v in values) or list(values) != sorted(set(values)):
                raise ConfigError(f"{field}={values!r} must be distinct positive values, ascending", field=field)
        for field, value in (("resolution", self.resolution), ("patch_size", self.patch_size)):
            if value <= 0:
                raise ConfigError(f"{field}={value} must be positive", field=field, value=value)
        if self.head_dim <= 0:
            raise ConfigError(f"head_dim={self.head_dim} must be positive", field="head_dim", value=self.head_dim)
        if self.resolution % self.patch_size:
            raise ConfigError(
                f"resolution={self.resolution} is not a multiple of patch_size={self.patch_size}",
                field="resolution",
                value=self.resolution,
            )
        # timm's Block builds its attention with dim % num_heads == 0 before the head width is set
        bad = [(d, h) for d in self.embed_dims for h in self.num_heads if d % h]
        if bad:
            raise ConfigError(
                f"embed_dim {bad[0][0]} is not divisible by {bad[0][1]} heads (timm's Block needs it)",
                field="num_heads",
                value=bad[0][1],
                allowed=[h for h in self.num_heads if all(d % h == 0 for d in self.embed_dims)],
            )

    # ------------------------------------------------------------------ labels
    @staticmethod
    def layer_label(layer: int, what: str) -> str:
        """Label of a layer's choice ``what`` (``heads``, ``mlp_ratio``); layers count from 1."""
        return f"l{layer}_{what}"

    @property
    def max_depth(self) -> int:
        return self.depths[-1]

    @property
    def grid(self) -> int:
        """Patches per side at the space's resolution."""
        return self.resolution // self.patch_size

    @property
    def tokens(self) -> int:
        """Tokens a transformer layer sees: the patches and the class token."""
        return self.grid**2 + 1

    def decisions(self) -> tuple[Decision, ...]:
        return _decisions(self)

    def _check_value(self, decision: Decision, value: Any, field: str | None = None) -> Choice:
        """As the base class; an MLP ratio given as an integer (``4``) is stored as the float choice (``4.0``)."""
        checked = super()._check_value(decision, value, field)
        return float(checked) if isinstance(decision.choices[0], float) else checked

    # ------------------------------------------------------------------ reading an arch
    def layers(self, arch: Arch) -> list[tuple[int, float]]:
        """``(heads, mlp_ratio)`` of every layer ``arch`` runs, in order."""
        return [
            (int(arch[self.layer_label(i, "heads")]), float(arch[self.layer_label(i, "mlp_ratio")]))
            for i in range(1, int(arch["depth"]) + 1)
        ]


_DECISION_CACHE: dict[AutoFormerSpace, tuple[Decision, ...]] = {}


def _decisions(space: AutoFormerSpace) -> tuple[Decision, ...]:
    cached = _DECISION_CACHE.get(space)
    if cached is not None:
        return cached
    decisions = [
        Decision("resolution", (space.resolution,)),
        Decision("embed_dim", space.embed_dims),
        Decision("depth", space.depths),
    ]
    min_depth = space.depths[0]
    for layer in range(1, space.max_depth + 1):
        gate = None if layer <= min_depth else ("depth", layer)
        decisions.append(Decision(space.layer_label(layer, "heads"), space.num_heads, gate))
        decisions.append(Decision(space.layer_label(layer, "mlp_ratio"), space.mlp_ratios, gate))
    _DECISION_CACHE[space] = tuple(decisions)
    return _DECISION_CACHE[space]


@register_space("autoformer_t")
def autoformer_t() -> AutoFormerSpace:
    """AutoFormer-T's space on 224 px images (16 px patches, head dim 64); its width-192, depth-12, 3-head,
    ratio-4 subnet is DeiT-Tiny."""
    return AutoFormerSpace(
        name="autoformer_t",
        resolution=224,
        patch_size=16,
        embed_dims=(192, 216, 240),
        depths=(12, 13, 14),
        num_heads=(3, 4),
        mlp_ratios=(3.5, 4.0),
        head_dim=64,
    )


@register_space("autoformer_t_small")
def autoformer_t_small() -> AutoFormerSpace:
    """AutoFormer-T scaled for 32x32 images: 4 px patches (an 8x8 grid, 65 tokens), widths {96, 108, 120} and
    head dim 32 (half of AutoFormer-T's), depth {6, 7, 8}, the same heads and MLP ratios."""
    return AutoFormerSpace(
        name="autoformer_t_small",
        resolution=32,
        patch_size=4,
        embed_dims=(96, 108, 120),
        depths=(6, 7, 8),
        num_heads=(3, 4),
        mlp_ratios=(3.5, 4.0),
        head_dim=32,
    )
