"""The parts a latency profiler times: the modules of a static subnet at their input sizes, whose per-part timings
sum (after a correction) to a whole network's latency."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import torch
from torch import nn

from search_spaces import Arch, SearchSpace

__all__ = ["PartModel", "SubnetPart"]


class SubnetPart(NamedTuple):
    """One module of a static subnet at its input size: the unit latency tables time and counters memoize.

    ``kind`` names the family's module type (``stem``, ``block``, ``head``, ...); ``spec`` holds the module's
    constructor options as sorted pairs; the input is ``(batch, channels, size, size)``.
    """

    kind: str
    spec: tuple[tuple[str, Any], ...]
    channels: int
    size: int

    @property
    def key(self) -> str:
        """A readable, unique name, e.g. ``block:in_channels=24,...,stride=2:c24@28``."""
        options = ",".join(f"{name}={value}" for name, value in self.spec)
        return f"{self.kind}:{options}:c{self.channels}@{self.size}"

    def input_shape(self, batch: int) -> tuple[int, int, int, int]:
        return (batch, self.channels, self.size, self.size)


class PartModel(ABC):
    """How a family's subnets decompose into parts (registered as ``Family.parts``)."""

    def __init__(self, space: SearchSpace, num_classes: int):
        self.space, self.num_classes = space, num_classes

    @abstractmethod
    def parts(self, arch: Arch) -> list[SubnetPart]:
        """Every part of ``arch``'s static subnet, in forward order (their sequence is the network)."""

    @abstractmethod
    def distinct_parts(self) -> list[SubnetPart]:
        """Every distinct part the space's archs can contain, in a stable order (what a table profiles)."""

    @abstractmethod
    def build(self, part: SubnetPart, device: torch.device | str | None = None) -> nn.Module:
        """A freshly initialised eval-mode module for ``part``."""

    @abstractmethod
    def subnet(self, arch: Arch) -> nn.Module:
        """A freshly initialised eval-mode static subnet of ``arch`` (latency does not depend on weight values)."""
