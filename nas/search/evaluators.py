"""Accuracy sources of a search: a fitted predictor (vectorized, in-process) or the supernet itself (a subnet
extracted, BN recalibrated and scored on a split; run on workers that load the checkpoint once)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from search_spaces import Arch, ConfigError, SearchSpace

__all__ = ["PredictedAccuracy", "supernet_evaluator"]


class PredictedAccuracy:
    """Accuracy (or loss) of many archs at once from a saved predictor; ``metric`` says which it predicts."""

    def __init__(self, folder: str, space: SearchSpace, num_classes: int):
        import predictors
        from nas.cli.predictor import arch_featurizer

        self.model = predictors.load_predictor(folder)
        self.featurizer = arch_featurizer(space, num_classes)
        if self.model.feature_names and self.model.feature_names != self.featurizer.names:
            raise ConfigError(
                f"predictor {folder} was fitted on other features than space {space.name!r} gives",
                field="predictor",
                value=folder,
            )
        target = self.model.target
        self.metric = "loss" if target.endswith("loss") else "accuracy"

    def predict(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted values and their spread (ensemble disagreement), one per arch."""
        return self.model.predict_with_spread(self.featurizer.matrix(archs))


def supernet_evaluator(
    checkpoint: str,
    data: str = "digits",
    data_root: str | None = None,
    data_seed: int = 0,
    resolution: int = 32,
    calibration_images: int = 512,
    split: str = "val",
    threads: int = 1,
    conversion_timesteps: int | None = None,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Load the supernet and data once; the returned function evaluates ``{"arch": {label: value}}`` payloads to
    ``{"accuracy", "loss", "seconds"}`` on ``split`` after BN recalibration.

    A spiking supernet adds energy, SynOps, firing rate and membrane memory, and evaluates every ``T`` of an arch
    in one pass (remembered, so the arch's siblings at other ``T`` cost nothing). With ``conversion_timesteps``
    a QCFS supernet adds ``converted_accuracy``, the subnet's accuracy as an SNN after conversion.
    """
    import torch

    from nas.data import load_dataset
    from nas.supernet import load_supernet
    from nas.supernet.families.spiking.network import SpikingResNet
    from nas.training.evaluation import evaluate

    torch.set_num_threads(threads)
    supernet = load_supernet(checkpoint).eval()
    dataset = load_dataset(data, data_root, resolution=resolution, seed=data_seed)
    if isinstance(supernet, SpikingResNet) and supernet.is_spiking:
        return _spiking_evaluator(supernet, dataset, split, calibration_images)

    def evaluate_payload(payload: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        arch = supernet.space.validate(payload["arch"])
        if conversion_timesteps:  # scores the ANN subnet on the way: one extraction and calibration for both
            from nas.spiking.conversion import evaluate_conversion

            converted = evaluate_conversion(
                supernet, arch, dataset, split, (conversion_timesteps,), calibration_images=calibration_images
            )
            values = {
                "accuracy": converted.ann_accuracy,
                "loss": converted.ann_loss,
                "converted_accuracy": converted.snn_accuracy[conversion_timesteps],
            }
        else:
            result = evaluate(supernet, arch, dataset, split, calibration_images)
            values = {"accuracy": result.accuracy, "loss": result.loss}
        return {**values, "seconds": time.perf_counter() - started}

    return evaluate_payload


def _spiking_evaluator(
    supernet: Any, dataset: Any, split: str, calibration_images: int
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from nas.spiking.evaluation import evaluate_timesteps, spiking_metrics
    from nas.supernet.families.spiking.costs import DEFAULT_COSTS

    space = supernet.space
    known: dict[Arch, dict[str, Any]] = {}

    def evaluate_payload(payload: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        arch = space.validate(payload["arch"])
        if arch not in known:
            results, counts = evaluate_timesteps(supernet, arch, dataset, split, calibration_images)
            for steps, result in results.items():
                sibling = space.with_timesteps(arch, steps)
                known[sibling] = spiking_metrics(supernet, sibling, result, counts, DEFAULT_COSTS)
        return {**known[arch], "seconds": time.perf_counter() - started}

    return evaluate_payload
