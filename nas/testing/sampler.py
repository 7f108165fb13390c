"""The sampler contract: a sampler built by name from a :class:`~nas.search.samplers.SamplerContext` drives an Optuna
study the way the search driver does (every decision of the space asked, a budget violation set before each
``tell``), asks only valid archs, and is reproducible from its seed.

A sampler's tests subclass :class:`SamplerContract` in a ``Test*`` class and provide a ``sampler_name`` fixture;
the :func:`sampler_name` fixture here yields every registered sampler. A sampler may refuse a context it cannot
serve (``evolution`` optimises one objective) with a ``ConfigError``; the suite then runs it on one objective.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
import pytest

from nas.search.samplers import SamplerContext, create_sampler, list_samplers
from search_spaces import Arch, ConfigError, SearchSpace, get_space

__all__ = ["SamplerContract", "sampler_name"]


@pytest.fixture(params=list_samplers())
def sampler_name(request: pytest.FixtureRequest) -> str:
    """Every registered sampler, one test run each."""
    return request.param


class _Objectives:
    """Two cheap, deterministic objectives of an arch (fixed random weights on its encoding) and one budget."""

    def __init__(self, space: SearchSpace):
        self.space = space
        self.weights = np.random.default_rng(0).uniform(0.5, 1.5, size=(2, len(space.feature_names())))
        typical = [self.values(space.sample(random.Random(seed)))[0] for seed in range(16)]
        self.limit = float(np.median(typical))

    def values(self, arch: Arch) -> list[float]:
        return (self.weights @ np.asarray(self.space.encode(arch))).tolist()

    def violation(self, arch: Arch) -> float:
        """Relative excess of the first objective over its limit (<= 0: within the budget)."""
        return self.values(arch)[0] / self.limit - 1.0


class SamplerContract:
    """The tests every sampler passes; needs a ``sampler_name`` fixture.

    ``space_name`` is the space searched, ``trials`` the study's length (:meth:`trials_for` may shorten it for a
    sampler whose every step is slow) and ``population`` the context's population (small, so the population-based
    samplers leave their random start within the study).
    """

    space_name = "ofa_mbv3_small"
    trials = 30
    population = 8

    def trials_for(self, name: str) -> int:
        """Trials of the study for sampler ``name``."""
        return self.trials

    def context(self, objectives: _Objectives, directions: int, seed: int) -> SamplerContext:
        """The context the driver would build: the first objective known exactly, the second learned."""

        def known(archs: Sequence[Arch]) -> np.ndarray:
            rows = np.array([objectives.values(arch)[:directions] for arch in archs], dtype=np.float64)
            rows[:, 1:] = np.nan
            return rows

        def violations(archs: Sequence[Arch]) -> np.ndarray:
            return np.array([[objectives.violation(arch)] for arch in archs], dtype=np.float64)

        return SamplerContext(
            seed=seed,
            directions=("minimize",) * directions,
            population=self.population,
            space=objectives.space,
            known=known,
            violations=violations,
        )

    def run(self, name: str, seed: int) -> tuple[list[Arch], list[dict[str, Any]]]:
        """The archs a study driven by sampler ``name`` asks, in order, and each trial's parameters."""
        space = get_space(self.space_name)
        objectives = _Objectives(space)
        try:
            sampler = create_sampler(name, self.context(objectives, 2, seed))
            directions = 2
        except ConfigError:  # a single-objective sampler refuses two directions with a typed error
            sampler = create_sampler(name, self.context(objectives, 1, seed))
            directions = 1
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(directions=["minimize"] * directions, sampler=sampler)
        archs, params = [], []
        for _ in range(self.trials_for(name)):
            trial = study.ask()
            # as the driver asks: every decision, also those gated off, so genetic samplers carry whole genomes
            genes = {d.label: trial.suggest_categorical(d.label, list(d.choices)) for d in space.decisions()}
            arch = space.from_genes(genes)
            trial.set_constraint("budget", objectives.violation(arch))
            study.tell(trial, objectives.values(arch)[:directions])
            archs.append(arch)
            params.append(dict(trial.params))
        return archs, params

    def test_every_asked_arch_is_valid_for_the_space(self, sampler_name: str) -> None:
        space = get_space(self.space_name)
        archs, params = self.run(sampler_name, seed=0)
        assert len(archs) == self.trials_for(sampler_name)
        choices = {d.label: d.choices for d in space.decisions()}
        for arch, genes in zip(archs, params):
            assert set(genes) == set(choices)  # every decision was asked and answered
            assert all(value in choices[label] for label, value in genes.items()), genes
            assert space.validate(arch.to_dict()) == arch
        assert len(set(archs)) > 1

    def test_same_seed_same_archs_other_seed_other_archs(self, sampler_name: str) -> None:
        first = self.run(sampler_name, seed=1)[0]
        assert self.run(sampler_name, seed=1)[0] == first
        assert self.run(sampler_name, seed=2)[0] != first
