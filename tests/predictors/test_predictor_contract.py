"""Run the predictor contract over every registered predictor kind."""

from __future__ import annotations

from typing import Any, ClassVar

from nas.testing import PredictorContract
from nas.testing.predictor import predictor_kind

__all__ = ["TestPredictorContract", "predictor_kind"]


class TestPredictorContract(PredictorContract):
    """Every predictor kind (the ``predictor_kind`` fixture) against :class:`PredictorContract`, with small models."""

    options: ClassVar[dict[str, dict[str, Any]]] = {
        "gbm": {"rounds": 30},
        "ridge_gbm": {"rounds": 30},
        "mlp_ensemble": {"members": 3, "hidden": (16, 16), "steps": 60},
        "blend": {"members": 3, "hidden": (16, 16), "steps": 60},
    }
