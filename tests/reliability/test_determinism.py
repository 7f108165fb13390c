"""Determinism: the same seed gives the same sampled archs (every space, every training subnet sampler), the same
search trajectory (every search sampler) and, on CPU, the same training metrics and weights. A different seed
gives a different result, so each check could fail."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pandas as pd
import pytest
import torch

import nas
from nas.core.config import parse_config
from nas.search.config import ExecutionConfig
from nas.search.driver import SearchConfig, run_search
from nas.search.samplers import SAMPLERS
from nas.training.config import TrainConfig
from nas.training.sampling import PhaseChoices, create_subnet_sampler
from nas.training.trainer import Trainer
from search_spaces import get_space, list_spaces
from tests.reliability.helpers import tiny_train_config


@pytest.mark.parametrize("space_name", list_spaces())
def test_same_seed_same_sampled_archs_in_every_space(space_name: str) -> None:
    space = get_space(space_name)

    def draw(seed: int) -> list:
        rng = random.Random(seed)
        return [space.sample(rng) for _ in range(30)] + [space.mutate(space.sample(rng), rng, 0.5) for _ in range(10)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


@pytest.mark.parametrize("kind", ["uniform", "macs_prior"])
def test_same_seed_same_training_subnets(kind: str) -> None:
    supernet = nas.create_supernet("ofa_mbv3_small", num_classes=10)
    choices = PhaseChoices(supernet.space, {"kernel_sizes": [], "expand_ratios": [], "depths": [], "resolutions": []})

    def draw(seed: int) -> list:
        sampler, rng = create_subnet_sampler(kind, choices, supernet.macs), random.Random(seed)
        return [sampler.sample(rng) for _ in range(20)]

    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def _search(sampler: str, seed: int, name: str, root: Path) -> pd.DataFrame:
    config = SearchConfig(
        objectives=["macs"] if sampler == "evolution" else ["macs", "params"],
        budgets=["params=3M"],
        space="ofa_mbv3_small",
        sampler=sampler,
        trials=16 if sampler in ("nsga2", "tpe", "random", "evolution") else 8,
        population=6,
        seed=seed,
        execution=ExecutionConfig(batch=4),
    )
    result = run_search(config, name, root, progress=False)
    return pd.read_csv(result.run_dir / "trials.csv")


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_same_seed_same_search_trajectory(sampler: str, tmp_path: Path) -> None:
    first, again = (_search(sampler, 11, f"run{i}", tmp_path) for i in range(2))
    pd.testing.assert_frame_equal(first, again)
    other = _search(sampler, 12, "other", tmp_path)
    assert first["macs"].tolist() != other["macs"].tolist(), "another seed should search elsewhere"


def _train(seed: int, name: str, root: Path) -> tuple[list[dict[str, str]], dict[str, torch.Tensor]]:
    changes = {
        "seed": seed,
        "data": {"limit_train": 64},
        "phases": [{"epochs": 1, "random_subnets": 1, "resolutions": [24]}],
    }
    config = parse_config(TrainConfig, tiny_train_config(**changes))
    summary = Trainer.start(config, name, root=root, progress=False).fit()
    with open(summary.run_dir / "metrics.csv", newline="") as stream:
        rows = [
            {k: row[k] for k in ("epoch", "step", "lr", "loss", "student_loss", "train_acc")}
            for row in csv.DictReader(stream)
        ]
    return rows, nas.load_supernet(summary.supernet_path).state_dict()


@pytest.mark.slow
def test_same_seed_same_training_metrics_and_weights_on_cpu(tmp_path: Path) -> None:
    rows, weights = _train(5, "a", tmp_path)
    rows_again, weights_again = _train(5, "b", tmp_path)
    assert rows == rows_again and len(rows) == 1
    assert all(torch.equal(weights[key], weights_again[key]) for key in weights)
    other_rows, other_weights = _train(6, "c", tmp_path)
    assert other_rows != rows
    assert not all(torch.equal(weights[key], other_weights[key]) for key in weights)
