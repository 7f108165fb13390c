"""Optuna samplers by name, all aware of budgets through the ``constraints`` user attribute, plus regularized
evolution (Real et al., 2019), which Optuna lacks, and the predictor-guided tactic (``predictor_guided``).

Constraints reach a sampler the way Optuna (>= 5) expects: before ``study.tell`` the driver sets one relative
budget violation per budget with ``trial.set_constraint`` (feasible when every value is <= 0).
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from search_spaces import ConfigError, UnknownNameError

__all__ = ["SAMPLERS", "ChildSampler", "RegularizedEvolutionSampler", "create_sampler"]

SAMPLERS = ("nsga2", "tpe", "gp", "random", "evolution", "predictor")


def create_sampler(
    name: str, seed: int, objectives: int, population: int = 50, guide: dict[str, Any] | None = None
) -> BaseSampler:
    """A seeded sampler; ``evolution`` supports a single objective only. ``predictor`` needs ``guide``: the
    keyword arguments of :class:`~nas.search.samplers.predictor_guided.PredictorGuidedSampler` (at least ``space`` and
    ``directions``); its random start is half a ``population``."""
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "evolution":
        if objectives != 1:
            raise ConfigError(
                f"sampler 'evolution' optimises one objective, got {objectives}; use nsga2 for several",
                field="sampler",
                value=name,
            )
        return RegularizedEvolutionSampler(population=population, seed=seed)
    if name == "predictor":
        from nas.search.samplers.predictor_guided import PredictorGuidedSampler

        if not guide or "space" not in guide or "directions" not in guide:
            raise ConfigError("sampler 'predictor' needs the search space and directions", field="sampler", value=name)
        return PredictorGuidedSampler(**{"initial": max(2, population // 2), **guide, "seed": seed})
    raise UnknownNameError("sampler", name, SAMPLERS)


class ChildSampler(BaseSampler):
    """Base of samplers that decide a whole child (every parameter) when a trial asks for its first parameter,
    then answer each ``suggest_*`` from it; a parameter the child lacks is drawn at random."""

    def __init__(self, seed: int):
        self._rng = random.Random(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._children: dict[int, dict[str, Any]] = {}

    @abstractmethod
    def _make_child(self, study: Study) -> dict[str, Any]:
        """The next child's parameter values (may be empty: all random)."""

    def reseed_rng(self) -> None:
        self._rng.seed()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict:
        return {}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        child = self._children.get(trial.number)
        if child is None:
            child = self._make_child(study)
            self._children[trial.number] = child
        if param_name in child and isinstance(param_distribution, CategoricalDistribution):
            if child[param_name] in param_distribution.choices:
                return child[param_name]
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self._children.pop(trial.number, None)


class RegularizedEvolutionSampler(ChildSampler):
    """Aging evolution: the newest ``population`` finished trials form the population; a child mutates the best of
    ``sample_size`` of them drawn at random. Feasible trials beat infeasible ones, which rank by total violation.

    Until ``population`` trials have finished, trials are random.
    """

    def __init__(self, population: int = 50, sample_size: int = 10, mutation_rate: float = 0.1, seed: int = 0):
        super().__init__(seed)
        self.population, self.sample_size, self.mutation_rate = population, sample_size, mutation_rate

    def _make_child(self, study: Study) -> dict[str, Any]:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(finished) < self.population:
            return {}
        population = finished[-self.population :]
        contestants = self._rng.sample(population, min(self.sample_size, len(population)))
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE

        def rank(trial: FrozenTrial) -> tuple[float, float]:
            violation = sum(max(0.0, c) for c in trial.constraints.values())
            value = float(trial.values[0])
            return (violation, -value if maximize else value)

        parent = min(contestants, key=rank)
        genes = dict(parent.params)
        mutable = [name for name, d in parent.distributions.items() if len(getattr(d, "choices", ())) > 1]
        changed = [name for name in mutable if self._rng.random() < self.mutation_rate] or [self._rng.choice(mutable)]
        for name in changed:
            choices = [c for c in parent.distributions[name].choices if c != genes[name]]  # type: ignore[attr-defined]
            genes[name] = self._rng.choice(choices)
        return genes
