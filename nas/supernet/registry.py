"""Families: each kind of network registers, in one place, everything the platform needs from it.

A :class:`Family` names the spaces whose supernets it builds, its :class:`~nas.supernet.base.Supernet` factory,
its cost model (MACs, params, memory, energy bounds), the parts a latency profiler times, the static subnet an
export rebuilds, the metrics it defines and how its subnets are evaluated. Nothing outside a family's own module
names the family or its classes: the rest of the platform asks the family found for a space.

>>> family = family_of("ofa_mbv3_small")
>>> supernet = create_supernet("ofa_mbv3_small", num_classes=10)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from torch import nn

from nas.supernet.base import Supernet
from nas.supernet.costs import CORE_METRICS, CostModel, Metric
from nas.supernet.parts import PartModel
from nas.supernet.published import PublishedNet
from nas.supernet.timm_model import TimmModelSpec
from search_spaces import Arch, ConfigError, Registry, SearchSpace, UnknownNameError, get_space

__all__ = [
    "FAMILIES",
    "Family",
    "cost_model",
    "create_supernet",
    "family_of",
    "list_families",
    "list_published",
    "list_supernets",
    "metric_definitions",
    "part_model",
    "published_net",
    "register_family",
]

StaticSubnet = Callable[..., nn.Module]
"""``(space, arch, num_classes, *, dropout, device) -> nn.Module``: a static subnet rebuilt from its arch alone."""

TimmExport = Callable[[SearchSpace, Arch, nn.Module], TimmModelSpec]
"""``(space, arch, static_subnet) -> TimmModelSpec``: the static subnet as a native timm model."""


@dataclass(frozen=True)
class Family:
    """One kind of network and everything the platform needs from it.

    Attributes:
        name: the family's name (``mobilenetv3``).
        spaces: the registered spaces whose supernets it builds; ``create_supernet(space)`` builds them.
        supernet: ``(space, num_classes, **options) -> Supernet`` (usually the supernet class).
        costs: ``(space, num_classes) -> CostModel``.
        parts: ``(space, num_classes) -> PartModel`` for latency tables; None: latency is not modelled.
        static_subnet: rebuilds an exported subnet from its arch; None: ``nas export`` refuses the family.
        export_note: what to do instead when ``static_subnet`` is None.
        metrics: the metrics it defines besides :data:`~nas.supernet.costs.CORE_METRICS` (memory, energy, ...).
        measured_metrics: metrics its evaluation measures on the supernet besides accuracy and loss.
        evaluation: the name of the evaluation procedure its subnets are scored with
            (``nas.training.procedures``).
        spiking: its networks already emit spikes (there is nothing to convert to an SNN).
        published: published checkpoints (once-for-all's ImageNet supernets) its supernets import.
        timm_export: its static subnets as native timm models (``nas export --format timm``); None: refused.
        timm_note: why ``timm_export`` is None, for the refusal.
        train_defaults: ``nas train`` settings its supernets need, by config section
            (``{"optim": {"optimizer": "adamw"}}``); the YAML config and the flags are laid over them.
    """

    name: str
    spaces: tuple[str, ...]
    supernet: Callable[..., Supernet]
    costs: Callable[[SearchSpace, int], CostModel]
    parts: Callable[[SearchSpace, int], PartModel] | None = None
    static_subnet: StaticSubnet | None = None
    export_note: str = ""
    metrics: tuple[Metric, ...] = ()
    measured_metrics: tuple[str, ...] = ()
    evaluation: str = "standard"
    spiking: bool = False
    published: tuple[PublishedNet, ...] = ()
    timm_export: TimmExport | None = None
    timm_note: str = ""
    train_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def create(self, space: str, num_classes: int, **options: Any) -> Supernet:
        """A fresh supernet of ``space`` (one of :attr:`spaces`)."""
        return self.supernet(get_space(space), num_classes, **options)


FAMILIES: Registry[Family] = Registry("family")
_SPACE_FAMILY: dict[str, str] = {}
_PUBLISHED: dict[str, PublishedNet] = {}


def register_family(family: Family) -> Family:
    """Register ``family``; its spaces must be registered and belong to no other family, and a metric it defines
    must not differ from another definition of the same name."""
    for space in family.spaces:
        get_space(space)
        if space in _SPACE_FAMILY:
            raise ValueError(f"space {space!r} already belongs to family {_SPACE_FAMILY[space]!r}")
    known = metric_definitions()
    for metric in family.metrics:
        if metric.name in known and known[metric.name] != metric:
            raise ValueError(f"family {family.name!r} redefines metric {metric.name!r} differently")
    for net in family.published:
        if net.space not in family.spaces:
            raise ValueError(f"published net {net.name!r} loads into space {net.space!r}, not one of {family.name!r}'s")
        if net.name in _PUBLISHED:
            raise ValueError(f"published net {net.name!r} is registered twice")
    FAMILIES.add(family.name, family)
    _PUBLISHED.update((net.name, net) for net in family.published)
    for space in family.spaces:
        _SPACE_FAMILY[space] = family.name
    metric_definitions.cache_clear()
    return family


def list_families() -> list[str]:
    """Names of the registered families, sorted."""
    return FAMILIES.names()


def family_of(space: str | SearchSpace) -> Family | None:
    """The family building ``space``'s supernets; None for a space no family builds (a table-backed space)."""
    name = space if isinstance(space, str) else space.name
    owner = _SPACE_FAMILY.get(name)
    return None if owner is None else FAMILIES.get(owner)


def _family(space: str | SearchSpace, what: str) -> Family:
    family = family_of(space)
    name = space if isinstance(space, str) else space.name
    if family is None:
        raise ConfigError(
            f"space {name!r} has no {what}: no network family builds its architectures "
            f"(families: {', '.join(list_families())})",
            field="space",
            value=name,
        )
    return family


def list_supernets() -> list[str]:
    """Names of all spaces with a supernet, sorted (a supernet is named after its space)."""
    return sorted(_SPACE_FAMILY)


def create_supernet(name: str, num_classes: int = 1000, **options: Any) -> Supernet:
    """Build the supernet of space ``name`` with fresh weights.

    Raises:
        UnknownNameError: listing the spaces with a supernet.
    """
    if not isinstance(name, str) or name not in _SPACE_FAMILY:
        raise UnknownNameError("supernet", name, _SPACE_FAMILY)
    return FAMILIES.get(_SPACE_FAMILY[name]).create(name, num_classes, **options)


@lru_cache(maxsize=64)
def cost_model(space: SearchSpace, num_classes: int) -> CostModel:
    """The cost model of ``space``'s subnets at ``num_classes`` (one instance per pair, so memos are shared)."""
    return _family(space, "cost model").costs(space, num_classes)


@lru_cache(maxsize=64)
def part_model(space: SearchSpace, num_classes: int) -> PartModel:
    """The latency parts of ``space``'s subnets at ``num_classes``."""
    family = _family(space, "latency parts")
    if family.parts is None:
        raise ConfigError(
            f"latency tables are not modelled for family {family.name!r} (space {space.name!r})",
            field="space",
            value=space.name,
        )
    return family.parts(space, num_classes)


@lru_cache(maxsize=1)
def metric_definitions() -> dict[str, Metric]:
    """Every metric a search may name: the core ones and those the registered families define."""
    metrics = {metric.name: metric for metric in CORE_METRICS}
    for name in FAMILIES.names():
        metrics.update((metric.name, metric) for metric in FAMILIES.get(name).metrics)
    return metrics


def static_subnet(space: SearchSpace, arch: Arch, num_classes: int, **options: Any) -> nn.Module:
    """A static subnet of ``arch`` rebuilt without its supernet (what ``nas export``'s files load into)."""
    family = _family(space, "static subnet")
    if family.static_subnet is None:
        raise ConfigError(
            f"family {family.name!r} has no static subnet to rebuild; {family.export_note}", field="space"
        )
    return family.static_subnet(space, arch, num_classes, **options)


def list_published() -> list[str]:
    """Names of the published checkpoints the registered families import, sorted."""
    return sorted(_PUBLISHED)


def published_net(name: str) -> PublishedNet:
    """The published checkpoint ``name``.

    Raises:
        UnknownNameError: listing the published nets the families import.
    """
    if not isinstance(name, str) or name not in _PUBLISHED:
        raise UnknownNameError("published net", name, _PUBLISHED)
    return _PUBLISHED[name]
