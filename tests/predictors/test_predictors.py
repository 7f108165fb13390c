"""Every registered predictor kind honours the contract: fits, ranks, round-trips through its safe files, and
refuses bad input and damaged files with typed errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import predictors
from search_spaces import CheckpointError, ConfigError, UnknownNameError

FAST = {"mlp_ensemble": {"steps": 250}, "gbm": {"rounds": 150}, "ridge_gbm": {"rounds": 150}, "blend": {"steps": 250}}


@pytest.fixture(params=predictors.predictor_kinds())
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def toy_data(rows: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(rows, 10)).astype(float)
    y = x @ np.linspace(1.0, 0.1, 10) + 0.05 * rng.normal(size=rows)
    return x, y


def fitted(kind: str, seed: int = 0) -> predictors.Predictor:
    x, y = toy_data()
    names = [f"f{i}" for i in range(10)]
    return predictors.create_predictor(kind, feature_names=names, seed=seed, **FAST[kind]).fit(x[:160], y[:160])


def test_fits_and_ranks_held_out_rows(kind: str) -> None:
    x, y = toy_data()
    report = predictors.ranking_report(y[160:], fitted(kind).predict(x[160:]))
    assert report["kendall_tau"] > 0.7 and report["spearman"] > 0.85


def test_save_load_round_trip_is_exact(kind: str, tmp_path: Path) -> None:
    model = fitted(kind)
    model.save(tmp_path / "p")
    loaded = predictors.load_predictor(tmp_path / "p")
    x, _ = toy_data(seed=1)
    for a, b in zip(model.predict_with_spread(x), loaded.predict_with_spread(x)):
        assert np.allclose(a, b)
    assert loaded.feature_names == model.feature_names and loaded.kind == kind
    assert not list(tmp_path.glob(".p.*"))  # no staging folder left behind
    on_disk = {p.name for p in (tmp_path / "p").iterdir()}
    assert "predictor.json" in on_disk and not any(name.endswith((".pkl", ".pickle")) for name in on_disk)


def test_same_seed_same_model(kind: str) -> None:
    x, _ = toy_data(seed=2)
    assert np.array_equal(fitted(kind, seed=3).predict(x), fitted(kind, seed=3).predict(x))


def test_bad_input_is_refused(kind: str) -> None:
    model = predictors.create_predictor(kind, feature_names=[f"f{i}" for i in range(10)])
    with pytest.raises(ConfigError, match="not fitted"):
        model.predict(np.zeros((1, 10)))
    x, y = toy_data()
    with pytest.raises(ConfigError, match="160 feature rows but 150 targets"):
        model.fit(x[:160], y[:150])
    model = fitted(kind)
    with pytest.raises(ConfigError, match="3 columns; this predictor was built for 10"):
        model.predict(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="NaN"):
        model.predict(np.full((1, 10), np.nan))


def test_damaged_or_foreign_files_are_refused(kind: str, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"no predictor\.json"):
        predictors.load_predictor(tmp_path / "missing")
    folder = fitted(kind).save(tmp_path / "p")
    meta_path = folder / "predictor.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version=99"):
        predictors.load_predictor(folder)
    meta_path.write_text(json.dumps({**meta, "kind": "oracle"}))
    with pytest.raises(UnknownNameError, match="oracle"):
        predictors.load_predictor(folder)
    meta_path.write_text(json.dumps(meta)[:50])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        predictors.load_predictor(folder)
    broken = {**meta, "settings": {**meta["settings"]}}
    broken["settings"].pop(next(iter(broken["settings"])))
    meta_path.write_text(json.dumps(broken))
    with pytest.raises(CheckpointError, match="malformed"):
        predictors.load_predictor(folder)


def test_failed_save_keeps_the_previous_predictor(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = fitted(kind, seed=0)
    first.save(tmp_path / "p")
    before = (tmp_path / "p" / "predictor.json").read_text()
    real_replace = os.replace

    def fail_on_install(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        installing_new = Path(target) == tmp_path / "p" and not Path(source).name.endswith(".retired")
        if installing_new:  # the rename that installs the new files fails; renaming the old one back works
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", fail_on_install)
    with pytest.raises(CheckpointError, match="No space left on device"):
        fitted(kind, seed=1).save(tmp_path / "p")
    monkeypatch.undo()
    assert (tmp_path / "p" / "predictor.json").read_text() == before
    x, _ = toy_data(seed=4)
    assert np.array_equal(predictors.load_predictor(tmp_path / "p").predict(x), first.predict(x))
    assert [p.name for p in tmp_path.iterdir()] == ["p"]  # staging and retired folders cleaned up


def test_unknown_kind_lists_valid_ones() -> None:
    with pytest.raises(UnknownNameError) as caught:
        predictors.create_predictor("xgboost_9000")
    assert all(kind in str(caught.value) for kind in predictors.predictor_kinds())


def test_a_kind_registered_twice_is_refused_and_the_first_stays(kind: str) -> None:
    kinds = predictors.predictor_kinds()
    first = type(predictors.create_predictor(kind))
    impostor = type("Impostor", (first,), {})  # inherits first.kind
    with pytest.raises(ValueError, match="registered twice"):
        predictors.register_predictor(impostor)
    assert type(predictors.create_predictor(kind)) is first
    assert predictors.predictor_kinds() == kinds


def test_ranking_metrics_on_known_orders() -> None:
    truth = [1.0, 2.0, 3.0, 4.0]
    assert predictors.kendall_tau(truth, [10, 20, 30, 40]) == pytest.approx(1.0)
    assert predictors.spearman(truth, [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert predictors.kendall_tau(truth, [1, 2, 4, 3]) == pytest.approx(4 / 6)
    assert predictors.top_k_overlap(truth, [0, 0, 5, 9], k=2) == 1.0
    assert predictors.mape([100.0, 200.0], [110.0, 180.0]) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        predictors.kendall_tau([1.0], [1.0])
