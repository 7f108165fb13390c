"""Gradient-boosted trees (LightGBM), saved as LightGBM's own text model inside the predictor's JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from predictors.base import Predictor, register_predictor

__all__ = ["GradientBoosting"]


def booster_params(learning_rate: float, num_leaves: int, min_data_in_leaf: int, seed: int, threads: int) -> dict:
    """LightGBM regression settings shared by the boosting predictors: small-data friendly, deterministic."""
    return {
        "objective": "regression",
        "learning_rate": learning_rate,
        "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf,
        "min_data_in_bin": 1,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "seed": seed,
        "deterministic": True,
        "num_threads": threads,
        "verbosity": -1,
    }


@register_predictor
class GradientBoosting(Predictor):
    """LightGBM regression; leaf sizes shrink with the training set so 10 rows still give a model."""

    kind = "gbm"

    def __init__(
        self,
        feature_names: list[str] | None = None,
        target: str = "metric",
        seed: int = 0,
        rounds: int = 400,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        threads: int = 1,
    ):
        super().__init__(feature_names, target, seed)
        self.rounds, self.learning_rate, self.num_leaves = rounds, learning_rate, num_leaves
        self.threads = threads  # more threads pay only on large tables; on a busy machine they stall
        self.booster: Any = None

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        import lightgbm

        params = booster_params(
            self.learning_rate, self.num_leaves, max(1, min(20, len(x) // 10)), self.seed, self.threads
        )
        dataset = lightgbm.Dataset(x, y, params={"min_data_in_bin": 1, "verbosity": -1})
        self.booster = lightgbm.train(params, dataset, num_boost_round=self.rounds)

    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.asarray(self.booster.predict(x), dtype=np.float64)
        return mean, np.zeros_like(mean)

    def _settings(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "model": self.booster.model_to_string(),
        }

    def _restore(self, settings: dict[str, Any], folder: Path) -> None:
        import lightgbm

        self.rounds, self.learning_rate = settings["rounds"], settings["learning_rate"]
        self.num_leaves = settings["num_leaves"]
        try:
            self.booster = lightgbm.Booster(model_str=settings["model"])
        except lightgbm.basic.LightGBMError as exc:
            raise ValueError(f"LightGBM model text is malformed ({str(exc)[:200]})") from None
