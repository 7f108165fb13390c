"""Subnet samplers for training: which architectures a step trains, restricted to a phase's choices.

Samplers are looked up by the config's ``sampler`` name in :data:`SUBNET_SAMPLERS` (not to be confused with the
search samplers of :mod:`nas.search.samplers`); a new one is a factory registered with
:func:`register_subnet_sampler`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from search_spaces import Arch, ConfigError, Decision, Registry, SearchSpace
from search_spaces.errors import describe_choices

__all__ = [
    "SUBNET_SAMPLERS",
    "MacsPriorSampler",
    "PhaseChoices",
    "SubnetSampler",
    "UniformSampler",
    "create_subnet_sampler",
    "register_subnet_sampler",
]

_SUFFIX_TO_FIELD = {
    "_kernel": "kernel_sizes",
    "_expand": "expand_ratios",
    "_depth": "depths",
    "resolution": "resolutions",
}


class PhaseChoices:
    """The choices of a space that a phase allows (e.g. only kernel 7 in OFA's first phase)."""

    def __init__(self, space: SearchSpace, allowed: dict[str, Sequence[int]]):
        self.space = space
        self.decisions: list[tuple[Decision, tuple]] = []
        for decision in space.decisions():
            field = next((f for s, f in _SUFFIX_TO_FIELD.items() if decision.label.endswith(s)), None)
            subset = allowed.get(field) if field else None
            if subset:
                bad = [v for v in subset if v not in decision.choices]
                if bad:
                    raise ConfigError(
                        f"{field} value {bad[0]!r} not in {describe_choices(decision.choices)} of space {space.name!r}",
                        field=field,
                        value=bad[0],
                        allowed=decision.choices,
                    )
                choices = tuple(c for c in decision.choices if c in subset)
            else:
                choices = decision.choices
            self.decisions.append((decision, choices))

    def _build(self, pick: Callable[[tuple], object]) -> Arch:
        genes = {decision.label: pick(choices) for decision, choices in self.decisions}
        return self.space.from_genes(genes)

    def largest(self) -> Arch:
        return self._build(lambda choices: choices[-1])

    def smallest(self) -> Arch:
        return self._build(lambda choices: choices[0])

    def sample(self, rng: random.Random) -> Arch:
        return self._build(rng.choice)


class SubnetSampler(ABC):
    """Draws the random subnets of a training step. Subclasses change the distribution."""

    def __init__(self, choices: PhaseChoices):
        self.choices = choices

    @abstractmethod
    def sample(self, rng: random.Random) -> Arch:
        """One architecture allowed by the phase."""


class UniformSampler(SubnetSampler):
    """Each allowed choice equally likely, independently per decision."""

    def sample(self, rng: random.Random) -> Arch:
        return self.choices.sample(rng)


class MacsPriorSampler(SubnetSampler):
    """Uniform over model size rather than over choices (AttentiveNAS-style): draw a MACs target uniformly between
    the smallest and largest allowed subnet, then keep the closest of a few uniform candidates. Uniform choice
    sampling concentrates on mid-sized networks; this spends more steps on the extremes."""

    def __init__(self, choices: PhaseChoices, macs_of: Callable[[Arch], int], candidates: int = 8):
        super().__init__(choices)
        self.macs_of = macs_of
        self.candidates = candidates
        self.low = macs_of(choices.smallest())
        self.high = macs_of(choices.largest())

    def sample(self, rng: random.Random) -> Arch:
        target = rng.uniform(self.low, self.high)
        pool = [self.choices.sample(rng) for _ in range(self.candidates)]
        return min(pool, key=lambda arch: abs(self.macs_of(arch) - target))


MacsOf = Callable[[Arch], int]
SubnetSamplerFactory = Callable[[PhaseChoices, MacsOf | None], SubnetSampler]
SUBNET_SAMPLERS: Registry[SubnetSamplerFactory] = Registry("sampler")  # the kind names the config field


def register_subnet_sampler(name: str) -> Callable[[SubnetSamplerFactory], SubnetSamplerFactory]:
    """Decorator registering a factory ``(choices, macs_of) -> SubnetSampler`` under ``name``."""
    return SUBNET_SAMPLERS.register(name)


def create_subnet_sampler(kind: str, choices: PhaseChoices, macs_of: MacsOf | None = None) -> SubnetSampler:
    """Build the sampler named in the config (``uniform`` or ``macs_prior``).

    Raises:
        UnknownNameError: (a ConfigError for the field ``sampler``) listing the registered names.
    """
    return SUBNET_SAMPLERS.get(kind)(choices, macs_of)


@register_subnet_sampler("uniform")
def _uniform(choices: PhaseChoices, macs_of: MacsOf | None) -> SubnetSampler:
    return UniformSampler(choices)


@register_subnet_sampler("macs_prior")
def _macs_prior(choices: PhaseChoices, macs_of: MacsOf | None) -> SubnetSampler:
    if macs_of is None:
        raise ConfigError("sampler 'macs_prior' needs a MACs estimator", field="sampler", value="macs_prior")
    return MacsPriorSampler(choices, macs_of)
