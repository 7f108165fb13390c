"""Run the search-space contract over every registered space."""

from __future__ import annotations

from tests.search_spaces.contract import TestSearchSpaceContract, space

__all__ = ["TestSearchSpaceContract", "space"]
