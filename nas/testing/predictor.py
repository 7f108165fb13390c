"""The predictor contract: what :mod:`predictors.base` promises of every registered predictor kind (fit and predict
finite values, a non-negative spread, a file that predicts the same after loading, typed errors for misuse,
seeded results).

A predictor's tests subclass :class:`PredictorContract` in a ``Test*`` class and provide a ``predictor_kind``
fixture; the :func:`predictor_kind` fixture here yields every registered kind. :attr:`PredictorContract.options`
passes constructor options per kind (fewer boosting rounds or ensemble members keep the suite fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from predictors import Predictor, create_predictor, load_predictor, predictor_kinds
from search_spaces import NasError

__all__ = ["PredictorContract", "predictor_kind", "synthetic_data"]


@pytest.fixture(params=predictor_kinds())
def predictor_kind(request: pytest.FixtureRequest) -> str:
    """Every registered predictor kind, one test run each."""
    return request.param


def synthetic_data(rows: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A feature matrix like a space's encoding (one-hot columns and two count-like ones) and a target that depends
    on both, linearly and not."""
    rng = np.random.default_rng(seed)
    one_hot = np.eye(3)[rng.integers(0, 3, size=(rows, 2))].reshape(rows, 6)
    counts = rng.integers(1, 9, size=(rows, 2)).astype(np.float64)
    features = np.hstack([one_hot, counts])
    targets = counts @ np.array([0.3, -0.2]) + one_hot @ rng.normal(size=6) + 0.1 * np.sin(counts[:, 0] * counts[:, 1])
    return features, targets


class PredictorContract:
    """The tests every predictor kind passes; needs a ``predictor_kind`` fixture.

    ``options`` maps a kind to the constructor options its tests use (besides ``feature_names`` and ``seed``).
    """

    options: ClassVar[dict[str, dict[str, Any]]] = {}
    seed = 3

    def make(self, kind: str, *, names: bool = True, seed: int | None = None) -> Predictor:
        """An unfitted predictor of ``kind`` for :func:`synthetic_data`'s columns (named or not)."""
        columns = synthetic_data()[0].shape[1]
        feature_names = [f"f{i}" for i in range(columns)] if names else None
        seed = self.seed if seed is None else seed
        return create_predictor(kind, feature_names=feature_names, seed=seed, **self.options.get(kind, {}))

    @pytest.fixture
    def fitted(self, predictor_kind: str) -> Predictor:
        """A predictor of the kind fitted on :func:`synthetic_data`."""
        features, targets = synthetic_data()
        predictor = self.make(predictor_kind)
        assert predictor.fit(features, targets) is predictor
        return predictor

    def test_predictions_are_finite_with_one_value_per_row(self, fitted: Predictor, predictor_kind: str) -> None:
        assert fitted.kind == predictor_kind and fitted.fitted
        features = synthetic_data(rows=11, seed=1)[0]
        predicted = fitted.predict(features)
        assert isinstance(predicted, np.ndarray) and predicted.shape == (11,)
        assert np.all(np.isfinite(predicted))

    def test_spread_is_non_negative_beside_the_same_predictions(self, fitted: Predictor) -> None:
        features = synthetic_data(rows=11, seed=1)[0]
        mean, spread = fitted.predict_with_spread(features)
        assert mean.shape == spread.shape == (11,)
        assert np.all(np.isfinite(spread)) and np.all(spread >= 0)
        np.testing.assert_array_equal(mean, fitted.predict(features))

    def test_saved_predictor_loads_and_predicts_the_same(self, fitted: Predictor, tmp_path: Path) -> None:
        features = synthetic_data(rows=11, seed=1)[0]
        folder = fitted.save(tmp_path / "predictor")
        loaded = load_predictor(folder)
        assert type(loaded) is type(fitted)
        assert (loaded.feature_names, loaded.target, loaded.seed) == (fitted.feature_names, fitted.target, fitted.seed)
        for got, expected in zip(loaded.predict_with_spread(features), fitted.predict_with_spread(features)):
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)

    @pytest.mark.parametrize("names", [True, False], ids=["named", "unnamed"])
    def test_misuse_is_a_typed_error(self, predictor_kind: str, names: bool, tmp_path: Path) -> None:
        features, targets = synthetic_data()
        predictor = self.make(predictor_kind, names=names)
        with pytest.raises(NasError):
            predictor.predict(features)  # not fitted yet
        with pytest.raises(NasError):
            predictor.save(tmp_path / "unfitted")
        with pytest.raises(NasError):
            predictor.fit(features, targets[:-1])  # one target short
        predictor.fit(features, targets)
        loaded = load_predictor(predictor.save(tmp_path / "fitted"))
        for model in (predictor, loaded):
            with pytest.raises(NasError):
                model.predict(features[:, :-1])  # a column short, whether or not the columns have names
            with pytest.raises(NasError):
                model.predict(np.hstack([features, features[:, :1]]))
            with pytest.raises(NasError):
                model.predict(np.where(np.eye(*features.shape) > 0, np.nan, features))

    def test_same_seed_same_predictions(self, predictor_kind: str) -> None:
        features, targets = synthetic_data()
        query = synthetic_data(rows=11, seed=1)[0]
        first = self.make(predictor_kind).fit(features, targets).predict_with_spread(query)
        second = self.make(predictor_kind).fit(features, targets).predict_with_spread(query)
        for got, expected in zip(first, second):
            np.testing.assert_array_equal(got, expected)
