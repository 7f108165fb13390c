"""Run the search-space contract over every registered space."""

from __future__ import annotations

from nas.testing import SearchSpaceContract
from nas.testing.space import space

__all__ = ["TestSearchSpaceContract", "space"]


class TestSearchSpaceContract(SearchSpaceContract):
    """Every registered space (the ``space`` fixture) against :class:`SearchSpaceContract`."""
