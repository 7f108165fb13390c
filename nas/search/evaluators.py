"""Accuracy sources of a search: a fitted predictor (vectorized, in-process) or the supernet itself (a subnet
extracted, BN recalibrated and scored on a split by its family's procedure; run on workers that load the
checkpoint once)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from nas.data import load_dataset
from nas.supernet.checkpoint import load_supernet
from nas.supernet.features import arch_featurizer
from nas.training.procedures import EvaluationSettings, scorer_for
from predictors.base import Predictor, load_predictor
from search_spaces import Arch, ConfigError, SearchSpace

__all__ = ["DOMAIN_CONSTRAINT", "PredictedAccuracy", "supernet_evaluator"]

DOMAIN_CONSTRAINT = "domain"
"""The constraint a search sets on each candidate: how far outside the predictor's training domain it lies."""


class PredictedAccuracy:
    """Accuracy (or loss) of many archs at once from a saved predictor; ``metric`` says which it predicts."""

    def __init__(self, folder: str, space: SearchSpace, num_classes: int, model: Predictor | None = None):
        self.model = model if model is not None else load_predictor(folder)
        self.featurizer = arch_featurizer(space, num_classes)
        if self.model.feature_names and self.model.feature_names != self.featurizer.names:
            raise ConfigError(
                f"predictor {folder} was fitted on other features than space {space.name!r} gives",
                field="predictor",
                value=folder,
            )
        target = self.model.target
        self.metric = "loss" if target.endswith("loss") else "accuracy"
        # a percentage target (DyNAS-T's "Top-1 Acc (%)") becomes the fraction every accuracy here is
        self.scale = 0.01 if self.metric == "accuracy" and "%" in target else 1.0

    def predict(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted values and their spread (ensemble disagreement), one per arch; accuracy as a fraction."""
        predicted, spread = self.model.predict_with_spread(self.featurizer.matrix(archs))
        return predicted * self.scale, spread * self.scale

    def domain_distance(self, archs: Sequence[Arch]) -> np.ndarray:
        """Per arch, how far outside the predictor's training domain it lies (0: inside; see
        :meth:`predictors.domain.Domain.distance`)."""
        return self.model.domain_distance(self.featurizer.matrix(archs))


def supernet_evaluator(
    checkpoint: str,
    data: str = "digits",
    data_root: str | None = None,
    data_seed: int = 0,
    resolution: int = 32,
    calibration_images: int = 512,
    split: str = "val",
    threads: int = 1,
    metrics: Sequence[str] = (),
    conversion_timesteps: int = 8,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Load the supernet and data once; the returned function evaluates ``{"arch": {label: value}}`` payloads to
    the metrics of the supernet family's procedure (at least ``accuracy`` and ``loss`` on ``split`` after BN
    recalibration) plus ``seconds``.

    ``metrics`` are the measured metrics the search asks for: a spiking supernet adds energy, SynOps, firing rate
    and membrane memory, a QCFS supernet asked for ``converted_accuracy`` converts at ``conversion_timesteps``
    (see ``nas.spiking.procedures``).
    """
    torch.set_num_threads(threads)
    supernet = load_supernet(checkpoint).eval()
    dataset = load_dataset(data, data_root, resolution=resolution, seed=data_seed)
    settings = EvaluationSettings(split, calibration_images, tuple(metrics), conversion_timesteps)
    score = scorer_for(supernet, dataset, settings)

    def evaluate_payload(payload: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        values = score(supernet.space.validate(payload["arch"]))
        return {**values, "seconds": time.perf_counter() - started}

    return evaluate_payload
