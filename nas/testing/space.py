"""The search-space contract: what every :class:`~search_spaces.SearchSpace` must do (valid samples that round-trip
through JSON, seeded sampling, mutation and crossover inside the space, fixed-length encodings, Optuna parameters
named after the arch labels).

A space's tests subclass :class:`SearchSpaceContract` in a ``Test*`` class and provide a ``space`` fixture; the
:func:`space` fixture here yields every registered space.
"""

from __future__ import annotations

import json
import random

import optuna
import pytest

from search_spaces import SearchSpace, get_space, list_spaces
from search_spaces.parsing import arch_from_json

__all__ = ["SearchSpaceContract", "space"]


@pytest.fixture(params=list_spaces())
def space(request: pytest.FixtureRequest) -> SearchSpace:
    """Every registered search space, one test run each."""
    return get_space(request.param)


class SearchSpaceContract:
    """The tests every search space passes; needs a ``space`` fixture (a :class:`SearchSpace`)."""

    def test_samples_are_valid_and_round_trip_through_json(self, space: SearchSpace) -> None:
        rng = random.Random(0)
        for _ in range(50):
            arch = space.sample(rng)
            assert space.validate(arch.to_dict()) == arch
            assert arch_from_json(arch.to_json()) == arch
            assert hash(arch_from_json(json.loads(arch.to_json()))) == hash(arch)

    def test_same_seed_same_samples(self, space: SearchSpace) -> None:
        first = [space.sample(random.Random(7)) for _ in range(3)]
        second = [space.sample(random.Random(7)) for _ in range(3)]
        assert first == second
        many = {space.sample(random.Random(seed)) for seed in range(20)}
        assert len(many) > 10

    def test_mutation_and_crossover_stay_in_space(self, space: SearchSpace) -> None:
        rng = random.Random(1)
        parent, other = space.sample(rng), space.sample(rng)
        mutated = [space.mutate(parent, rng, rate=0.3) for _ in range(30)]
        assert all(space.validate(m.to_dict()) == m for m in mutated)
        assert any(m != parent for m in mutated)
        children = [space.crossover(parent, other, rng) for _ in range(30)]
        assert all(space.validate(c.to_dict()) == c for c in children)

    def test_smallest_and_largest_are_valid_and_distinct(self, space: SearchSpace) -> None:
        assert space.validate(space.smallest().to_dict()) == space.smallest()
        assert space.smallest() != space.largest()

    def test_encoding_has_fixed_length_and_separates_archs(self, space: SearchSpace) -> None:
        rng = random.Random(2)
        archs = [space.sample(rng) for _ in range(20)]
        encodings = [space.encode(a) for a in archs]
        assert {len(e) for e in encodings} == {len(space.feature_names())}
        assert len({tuple(e) for e in encodings}) == len(set(archs))

    def test_optuna_trial_parameters_are_the_arch_labels(self, space: SearchSpace) -> None:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        arch = space.suggest(trial)
        assert trial.params == arch.to_dict()
        assert space.validate(trial.params) == arch
