"""Run the supernet contract over every registered supernet (a new family is covered the moment it registers)."""

from __future__ import annotations

from nas.testing import SupernetContract
from nas.testing.supernet import supernet_name

__all__ = ["TestSupernetContract", "supernet_name"]


class TestSupernetContract(SupernetContract):
    """Every space with a supernet (the ``supernet_name`` fixture) against :class:`SupernetContract`."""
