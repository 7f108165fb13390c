"""Spiking neurons run over time-major tensors ``[T, B, ...]``, trained through surrogate gradients.

A LIF neuron leaks a fraction ``1/tau`` of its membrane potential per step and adds its input
(``v <- (1 - 1/tau) v + x``, snnTorch's ``Leaky`` form), fires a spike where the
membrane potential reaches the threshold, and resets: to zero (``hard``) or by subtracting the threshold
(``soft``). PLIF learns the leak per layer (Fang et al., 2021). IF is LIF without leak (``tau = inf``), the neuron
of ANN-to-SNN conversion. The forward step is the Heaviside function; its gradient is replaced by the derivative
of a smooth surrogate (arctangent or sigmoid) so the network trains by backpropagation through time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from search_spaces import ConfigError

__all__ = ["QCFS", "SURROGATES", "LIFNeuron", "spike"]

Reset = Literal["hard", "soft"]


def _arctan_gradient(x: Tensor, alpha: float) -> Tensor:
    """``alpha / 2 / (1 + (pi / 2 * alpha * x)^2)``, the derivative of ``arctan(pi / 2 * alpha * x) / pi``."""
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def _sigmoid_gradient(x: Tensor, alpha: float) -> Tensor:
    """The derivative of ``sigmoid(alpha * x)``."""
    sigmoid = torch.sigmoid(alpha * x)
    return alpha * sigmoid * (1 - sigmoid)


Surrogate = Callable[[Tensor, float], Tensor]

SURROGATES: dict[str, tuple[Surrogate, float]] = {"atan": (_arctan_gradient, 2.0), "sigmoid": (_sigmoid_gradient, 4.0)}


class _Spike(torch.autograd.Function):
    """Heaviside forward; the backward pass uses the given surrogate gradient, the derivative of a smooth step."""

    @staticmethod
    def forward(ctx, x: Tensor, gradient: Surrogate, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.gradient, ctx.alpha = gradient, alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.gradient(x, ctx.alpha), None, None


def spike(x: Tensor, surrogate: str = "atan") -> Tensor:
    """``1`` where ``x >= 0`` else ``0``, with the surrogate's gradient."""
    gradient, alpha = SURROGATES[surrogate]
    return _Spike.apply(x, gradient, alpha)


class LIFNeuron(nn.Module):
    """Multi-step leaky integrate-and-fire neuron (``tau=None``: integrate-and-fire, no leak).

    Args:
        tau: membrane time constant (> 1), or ``None`` for IF.
        threshold: firing threshold (> 0).
        reset: ``hard`` (to zero) or ``soft`` (subtract the threshold).
        parametric: learn the leak (PLIF); ``tau`` is its initial value.
        surrogate: ``atan`` or ``sigmoid``.
        detach_reset: do not backpropagate through the reset (a common, stabilising choice).
        initial_fraction: the membrane starts at this fraction of the threshold (0.5 for QCFS conversion).
        amplitude: the value a spike carries (1; a converted SNN's spikes carry its threshold, as the ANN
            activation they stand for, which hardware folds into the next layer's weights).
    """

    def __init__(
        self,
        tau: float | None = 2.0,
        threshold: float = 1.0,
        reset: Reset = "hard",
        parametric: bool = False,
        surrogate: str = "atan",
        detach_reset: bool = True,
        initial_fraction: float = 0.0,
        amplitude: float = 1.0,
    ):
        super().__init__()
        if tau is not None and not tau > 1.0:
            raise ConfigError(f"tau={tau!r} must be > 1 (or None for IF)", field="tau", value=tau, allowed="> 1")
        if parametric and tau is None:
            raise ConfigError("a parametric (PLIF) neuron needs a finite tau", field="tau", value=tau)
        if not threshold > 0:
            raise ConfigError(f"threshold={threshold!r} must be > 0", field="threshold", value=threshold)
        if reset not in ("hard", "soft"):
            raise ConfigError(f"reset={reset!r} not in {{'hard', 'soft'}}", field="reset", value=reset)
        if surrogate not in SURROGATES:
            raise ConfigError(f"surrogate={surrogate!r} not in {set(SURROGATES)}", field="surrogate", value=surrogate)
        self.tau = tau
        self.threshold = float(threshold)
        self.reset = reset
        self.surrogate = surrogate
        self.detach_reset = detach_reset
        self.initial_fraction = initial_fraction
        self.amplitude = amplitude
        # PLIF: leak = sigmoid(logit(1 / tau) + w) with a learned offset w, so the leak starts at 1 / tau
        self.leak_offset = nn.Parameter(torch.zeros(())) if parametric else None

    def leak(self) -> Tensor | float:
        """The fraction of the membrane potential lost per step: ``1 / tau`` (0 for IF)."""
        if self.tau is None:
            return 0.0
        if self.leak_offset is not None:
            return torch.sigmoid(self.leak_offset - math.log(self.tau - 1.0))
        return 1.0 / self.tau

    def forward(self, x: Tensor) -> Tensor:
        """Spikes ``[T, ...]`` for input currents ``[T, ...]`` (state starts afresh every call)."""
        leak = self.leak()
        potential = torch.full_like(x[0], self.initial_fraction * self.threshold)
        spikes = []
        for current in x:
            potential = potential + current if self.tau is None else potential * (1 - leak) + current
            fired = spike(potential - self.threshold, self.surrogate)
            spikes.append(fired if self.amplitude == 1.0 else fired * self.amplitude)
            gate = fired.detach() if self.detach_reset else fired
            potential = potential * (1 - gate) if self.reset == "hard" else potential - gate * self.threshold
        return torch.stack(spikes)

    def extra_repr(self) -> str:
        kind = "IF" if self.tau is None else ("PLIF" if self.leak_offset is not None else "LIF")
        return f"{kind}, tau={self.tau}, threshold={self.threshold}, reset={self.reset}, surrogate={self.surrogate}"


class QCFS(nn.Module):
    """Quantization-clip-floor-shift activation (Bu et al., 2022): ``lam / L * clamp(floor(x L / lam + 1/2), 0, L)``.

    An ANN trained with it converts to an SNN of IF neurons (threshold ``lam``, membrane starting at ``lam / 2``)
    with little loss at ``T`` around ``L``. The floor passes gradients straight through; ``lam`` is learned.
    """

    def __init__(self, levels: int = 8, initial_threshold: float = 2.0):
        super().__init__()
        if levels < 1:
            raise ConfigError(f"levels={levels} must be >= 1", field="levels", value=levels)
        self.levels = levels
        self.threshold = nn.Parameter(torch.tensor(float(initial_threshold)))

    def forward(self, x: Tensor) -> Tensor:
        scaled = x / self.threshold * self.levels + 0.5
        floored = scaled + (torch.floor(scaled) - scaled).detach()  # straight-through estimator
        return torch.clamp(floored, 0, self.levels) * self.threshold / self.levels

    def extra_repr(self) -> str:
        return f"levels={self.levels}"
