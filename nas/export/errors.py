"""Errors of subnet export: an artifact that does not compute what the supernet computes."""

from __future__ import annotations

from search_spaces import NasError

__all__ = ["ExportError", "ParityError"]


class ExportError(NasError):
    """An export that could not be completed; nothing was left at the output folder."""


class ParityError(ExportError):
    """An exported artifact whose outputs differ from the reference by more than the tolerance."""

    def __init__(self, fmt: str, max_abs_diff: float, tolerance: float, reference: str):
        super().__init__(
            f"format {fmt!r}: outputs differ from the {reference} by {max_abs_diff:.3g} (max abs), more than the "
            f"tolerance {tolerance:.3g}; nothing was written"
        )
        self.format = fmt
        self.max_abs_diff = max_abs_diff
        self.tolerance = tolerance
