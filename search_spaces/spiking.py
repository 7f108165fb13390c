"""Spiking ResNet spaces: a small residual family for spiking networks and its conversion-friendly ANN twin.

Both spaces share the structure decisions: input resolution, per stage a depth, per block a kernel size and a
hidden-width ratio. ``spiking_resnet`` adds the neuron decisions, global to the network: the number of
timesteps ``T``, the firing threshold and the membrane time constant ``tau``. ``qcfs_resnet`` is the same network
with quantization-clip-floor-shift (QCFS) activations instead of neurons: an ANN built to be converted to an SNN.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.arch import Arch
from search_spaces.base import Decision, StagedSpace
from search_spaces.errors import InvalidArchError, describe_choices
from search_spaces.registry import register_space

__all__ = ["SpikingResNetSpace", "qcfs_resnet", "spiking_resnet"]


@dataclass(frozen=True, repr=False)
class SpikingResNetSpace(StagedSpace):
    """Stem, three residual stages (widths ``stage_widths``, strides ``stage_strides``), pooled linear head."""

    name: str
    resolutions: tuple[int, ...] = (14, 16)
    stage_widths: tuple[int, ...] = (16, 32, 64)
    stage_strides: tuple[int, ...] = (1, 2, 2)
    depths: tuple[int, ...] = (1, 2)
    kernel_sizes: tuple[int, ...] = (3, 5)
    width_ratios: tuple[float, ...] = (0.5, 0.75, 1.0)
    timesteps: tuple[int, ...] = (1, 2, 4, 6, 8)
    thresholds: tuple[float, ...] = (0.5, 1.0)
    taus: tuple[float, ...] = (2.0, 4.0)
    spiking: bool = True
    stem_width: int = 16

    @property
    def max_timesteps(self) -> int:
        return max(self.timesteps) if self.spiking else 1

    def decisions(self) -> tuple[Decision, ...]:
        decisions = [Decision("resolution", self.resolutions)]
        if self.spiking:
            decisions += [
                Decision("timesteps", self.timesteps),
                Decision("threshold", self.thresholds),
                Decision("tau", self.taus),
            ]
        blocks = (("kernel", self.kernel_sizes), ("width", self.width_ratios))
        return tuple(decisions + self.stage_decisions(len(self.stage_widths), blocks))

    def hidden_width(self, stage: int, ratio: float) -> int:
        """Channels inside a block of ``stage`` (from 1) at a width ratio, at least 4 and a multiple of 4."""
        return max(4, round(self.stage_widths[stage - 1] * ratio / 4) * 4)

    def timesteps_of(self, arch: Arch) -> int:
        """``T`` of a spiking arch; 1 for the ANN twin."""
        return int(arch["timesteps"]) if self.spiking else 1

    def with_timesteps(self, arch: Arch, timesteps: int) -> Arch:
        """The same network run for ``timesteps`` steps.

        Raises:
            InvalidArchError: ``timesteps`` is not a choice of this space.
        """
        if not self.spiking:
            raise InvalidArchError(
                f"space {self.name!r} is an ANN space without timesteps", field="timesteps", value=timesteps
            )
        if timesteps not in self.timesteps:
            raise InvalidArchError(
                f"timesteps={timesteps!r} not in {describe_choices(self.timesteps)}",
                field="timesteps",
                value=timesteps,
                allowed=self.timesteps,
            )
        return self.validate({**arch.to_dict(), "timesteps": timesteps})


@register_space("spiking_resnet")
def spiking_resnet() -> SpikingResNetSpace:
    """Spiking ResNet for small images: T in {1, 2, 4, 6, 8}, threshold {0.5, 1.0}, tau {2, 4}."""
    return SpikingResNetSpace(name="spiking_resnet")


@register_space("qcfs_resnet")
def qcfs_resnet() -> SpikingResNetSpace:
    """The ANN twin of ``spiking_resnet`` with QCFS activations, for ANN-to-SNN conversion."""
    return SpikingResNetSpace(name="qcfs_resnet", spiking=False)
