"""The supernet contract: what every weight-sharing supernet offers the rest of the platform.

A supernet is an ``nn.Module`` over one search space (:attr:`Supernet.space`) whose weights are shared by every
architecture of that space. The platform relies on exactly this:

- **choosing a subnet**: :meth:`~Supernet.set_active` selects an arch for the following forward passes (an arch
  of another space, or a mapping that is not a valid arch, is an :class:`~search_spaces.InvalidArchError`);
  :attr:`~Supernet.active_arch` is the arch selected now; :meth:`~Supernet.sample` draws one and selects it.
- **computing**: ``forward(images)`` computes the active subnet; :meth:`~Supernet.extract` returns a static network
  of the arch holding copies of its weights, whose outputs equal the supernet's for that arch.
- **costs**: :meth:`~Supernet.macs` and :meth:`~Supernet.params` of any arch, computed from the arch alone (no
  extraction) and equal to the family's cost model; params is the parameter count of the extracted subnet, and
  the cost model's ``forward_macs`` is what ``FlopCounterMode`` / 2 counts on it (``macs`` itself, except where a
  family defines MACs otherwise: the spiking ones count one timestep of the dense network).
- **channel sorting** (where it applies): :meth:`~Supernet.sort_channels` reorders hidden channels by importance
  without changing the function of the full network (the largest arch; narrower subnets then keep the most
  important channels); supernets without it refuse with a ``ConfigError``.
- **one file format**: :meth:`~Supernet.save` writes the weights with the space name, the class count and the
  :attr:`~Supernet.constructor_options` that rebuild the network; ``nas.load_supernet`` reads it back.

A new kind of network subclasses :class:`Supernet` and is registered as a family
(:func:`nas.supernet.registry.register_family`), which is what makes ``create_supernet(space_name)`` build it;
:class:`nas.testing.SupernetContract` checks all of the above for it.
"""

from __future__ import annotations

import os
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from nas.core.files import save_torch_file
from search_spaces import Arch, ConfigError, InvalidArchError, SearchSpace

__all__ = ["FORMAT", "FORMAT_VERSION", "Supernet"]

FORMAT = "nas-supernet"
FORMAT_VERSION = 1


class Supernet(nn.Module, ABC):
    """Base of every supernet; see the module docstring for the contract.

    Args:
        space: the search space whose archs the supernet computes.
        num_classes: outputs of the classifier, at least 1.
    """

    def __init__(self, space: SearchSpace, num_classes: int):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise InvalidArchError(f"num_classes={num_classes} must be >= 1", field="num_classes", value=num_classes)
        self.space = space
        self.num_classes = num_classes
        self._active_arch = space.largest()

    # ------------------------------------------------------------------ choosing a subnet
    @property
    def active_arch(self) -> Arch:
        """The arch the next forward pass computes."""
        return self._active_arch

    @abstractmethod
    def set_active(self, arch: Arch | Mapping[str, Any]) -> None:
        """Select ``arch`` (of this supernet's space) for the following forward passes."""

    def sample(self, rng: random.Random) -> Arch:
        """Draw a uniformly random arch, select it and return it."""
        arch = self.space.sample(rng)
        self.set_active(arch)
        return arch

    def check_arch(self, arch: Arch | Mapping[str, Any]) -> Arch:
        """``arch`` as a validated :class:`Arch` of this supernet's space."""
        if not isinstance(arch, Arch):
            return self.space.validate(arch)
        if arch.space != self.space.name:
            raise InvalidArchError(
                f"arch of space {arch.space!r} cannot run on a supernet of space {self.space.name!r}",
                field="space",
                value=arch.space,
                allowed=[self.space.name],
            )
        return arch

    # ------------------------------------------------------------------ computing
    @abstractmethod
    def extract(self, arch: Arch | None = None) -> nn.Module:
        """A static network computing ``arch`` (default: the active arch) with copies of its weights, in the
        supernet's train/eval mode; ``arch`` stays active on the supernet afterwards."""

    @abstractmethod
    def macs(self, arch: Arch) -> int:
        """Multiply-accumulates of ``arch`` at its resolution, batch 1."""

    @abstractmethod
    def params(self, arch: Arch) -> int:
        """Parameters of ``arch``'s extracted subnet."""

    def sort_channels(self) -> None:
        """Reorder hidden channels by importance (the largest arch's function is unchanged); not every supernet
        can."""
        raise ConfigError(
            f"sort_channels is not supported by {type(self).__name__} supernets ({self.space.name!r})",
            field="sort_channels",
        )

    # ------------------------------------------------------------------ the file format
    @property
    @abstractmethod
    def constructor_options(self) -> dict[str, Any]:
        """The keyword options that rebuild this network besides its space and class count (saved in files)."""

    def payload(self) -> dict[str, Any]:
        """What a supernet file holds (training checkpoints embed it too)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "supernet": self.space.name,
            "num_classes": self.num_classes,
            "options": self.constructor_options,
            "state_dict": self.state_dict(),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this supernet atomically; ``nas.load_supernet(path)`` rebuilds it."""
        return save_torch_file(path, self.payload())
