"""Run the sampler contract over every registered sampler."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from nas.testing import SamplerContract
from nas.testing.sampler import sampler_name

__all__ = ["TestSamplerContract", "sampler_name"]


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """The GP and MLP models of these studies are tiny: with a second thread they stall on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TestSamplerContract(SamplerContract):
    """Every sampler (the ``sampler_name`` fixture) against :class:`SamplerContract`."""

    def trials_for(self, name: str) -> int:
        # each GP step fits Gaussian processes and optimises an acquisition (about half a second here): the 10
        # random startup trials and 4 model-driven ones
        return 14 if name == "gp" else self.trials
