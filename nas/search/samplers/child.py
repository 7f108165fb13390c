"""The base of samplers that decide a whole child at once (evolution, the predictor-guided tactic)."""

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

__all__ = ["ChildSampler"]


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
