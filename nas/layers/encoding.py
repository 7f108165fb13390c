"""Input encodings: how a static image becomes ``T`` steps of network input.

``direct`` repeats the (normalised) image at every step, so the first layer sees real values and its
operations count as multiply-accumulates. ``rate`` draws Bernoulli spikes with each pixel's intensity, rescaled
to [0, 1] per image, as its probability; the network then sees only spikes, at the price of sampling noise.
"""

from __future__ import annotations

import torch
from torch import Tensor

from search_spaces import ConfigError

__all__ = ["ENCODINGS", "encode"]

ENCODINGS = ("direct", "rate")


def encode(images: Tensor, timesteps: int, kind: str = "direct", generator: torch.Generator | None = None) -> Tensor:
    """``[T, B, C, H, W]`` network input for ``[B, C, H, W]`` images."""
    if not isinstance(timesteps, int) or isinstance(timesteps, bool) or timesteps < 1:
        raise ConfigError(f"timesteps={timesteps!r} must be an integer >= 1", field="timesteps", value=timesteps)
    if kind == "direct":
        return images.unsqueeze(0).expand(timesteps, *images.shape)
    if kind == "rate":
        flat = images.flatten(1)
        low = flat.amin(1).view(-1, 1, 1, 1)
        high = flat.amax(1).view(-1, 1, 1, 1)
        intensity = (images - low) / (high - low).clamp_min(1e-12)
        draws = torch.rand((timesteps, *images.shape), generator=generator, device=images.device)
        return (draws < intensity).to(images.dtype)
    raise ConfigError(f"encoding={kind!r} not in {ENCODINGS}", field="encoding", value=kind, allowed=ENCODINGS)
