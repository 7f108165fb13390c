"""Regularized (aging) evolution (Real et al., 2019), which Optuna lacks, as an Optuna sampler."""

from __future__ import annotations

from typing import Any

import optuna
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from nas.search.samplers.child import ChildSampler

__all__ = ["RegularizedEvolutionSampler"]


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
