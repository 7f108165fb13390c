"""Feature rows for predictors: the space's encoding plus the free statistics its family's cost model gives
(MACs and parameters), which FBNetV3 showed pre-train a predictor cheaply."""

from __future__ import annotations

from nas.supernet.registry import cost_model, family_of
from predictors.features import ArchFeaturizer
from search_spaces import SearchSpace

__all__ = ["arch_featurizer"]


def arch_featurizer(space: SearchSpace, num_classes: int) -> ArchFeaturizer:
    """The space's encoding, plus MACs and parameters where a family models the space's costs."""
    if family_of(space) is None:
        return ArchFeaturizer(space)
    costs = cost_model(space, num_classes)
    return ArchFeaturizer(space, {"macs": costs.macs, "params": costs.params})
