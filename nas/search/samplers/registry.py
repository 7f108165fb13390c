"""Samplers by name, each built from a :class:`~nas.search.samplers.context.SamplerContext`: Optuna's own (all
aware of budgets through ``trial.set_constraint``), regularized evolution and the predictor-guided tactic.

Constraints reach a sampler the way Optuna (>= 5) expects: before ``study.tell`` the driver sets one relative
budget violation per budget with ``trial.set_constraint`` (feasible when every value is <= 0).
"""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.samplers import BaseSampler

from nas.search.samplers.context import SamplerContext
from nas.search.samplers.evolution import RegularizedEvolutionSampler
from nas.search.samplers.predictor_guided import PredictorGuidedSampler
from search_spaces import ConfigError, Registry

__all__ = ["SAMPLERS", "create_sampler", "list_samplers", "register_sampler"]

SamplerFactory = Callable[[SamplerContext], BaseSampler]
SAMPLERS: Registry[SamplerFactory] = Registry("sampler")


def register_sampler(name: str) -> Callable[[SamplerFactory], SamplerFactory]:
    """Decorator registering a sampler factory under ``name``."""
    return SAMPLERS.register(name)


def list_samplers() -> list[str]:
    """Names of the registered samplers, in registration-independent (sorted) order."""
    return SAMPLERS.names()


def create_sampler(name: str, context: SamplerContext) -> BaseSampler:
    """A seeded sampler; unknown names list the registered ones."""
    return SAMPLERS.get(name)(context)


@register_sampler("nsga2")
def _nsga2(context: SamplerContext) -> BaseSampler:
    return optuna.samplers.NSGAIISampler(population_size=context.population, seed=context.seed)


@register_sampler("tpe")
def _tpe(context: SamplerContext) -> BaseSampler:
    return optuna.samplers.TPESampler(seed=context.seed, multivariate=True)


@register_sampler("gp")
def _gp(context: SamplerContext) -> BaseSampler:
    return optuna.samplers.GPSampler(seed=context.seed, warn_independent_sampling=False)


@register_sampler("random")
def _random(context: SamplerContext) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=context.seed)


@register_sampler("evolution")
def _evolution(context: SamplerContext) -> BaseSampler:
    if len(context.directions) != 1:
        raise ConfigError(
            f"sampler 'evolution' optimises one objective, got {len(context.directions)}; use nsga2 for several",
            field="sampler",
            value="evolution",
        )
    return RegularizedEvolutionSampler(population=context.population, seed=context.seed)


@register_sampler("predictor")
def _predictor(context: SamplerContext) -> BaseSampler:
    if context.space is None:
        raise ConfigError("sampler 'predictor' needs the search space", field="sampler", value="predictor")
    return PredictorGuidedSampler(
        context.space,
        context.directions,
        known=context.known,
        violations=context.violations,
        pool=context.pool,
        initial=max(2, context.population // 2),
        seed=context.seed,
    )
