"""Search samplers: a registry of named factories over one typed :class:`SamplerContext`."""

from __future__ import annotations

from nas.search.samplers.child import ChildSampler
from nas.search.samplers.context import ArchMatrix, SamplerContext
from nas.search.samplers.evolution import RegularizedEvolutionSampler
from nas.search.samplers.predictor_guided import PredictorGuidedSampler
from nas.search.samplers.registry import SAMPLERS, create_sampler, list_samplers, register_sampler

__all__ = [
    "SAMPLERS",
    "ArchMatrix",
    "ChildSampler",
    "PredictorGuidedSampler",
    "RegularizedEvolutionSampler",
    "SamplerContext",
    "create_sampler",
    "list_samplers",
    "register_sampler",
]
