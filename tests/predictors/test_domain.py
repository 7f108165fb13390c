"""A predictor records the domain of its training rows, flags rows outside it, keeps it in its file, and still
loads version-1 files (which have none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from predictors import FORMAT_VERSION, create_predictor, load_predictor
from predictors.domain import Domain
from search_spaces import CheckpointError

NAMES = ["resolution=160", "resolution=224", "kernel=3", "kernel=5", "macs"]


def rows() -> tuple[np.ndarray, np.ndarray]:
    """224-px rows only, both kernels, MACs 200M..300M."""
    rng = np.random.default_rng(0)
    kernel5 = rng.integers(0, 2, 40).astype(float)
    macs = rng.uniform(200e6, 300e6, 40)
    features = np.stack([np.zeros(40), np.ones(40), 1 - kernel5, kernel5, macs], axis=1)
    return features, 70 + kernel5 + macs / 1e8


def test_domain_is_each_columns_training_range() -> None:
    features, _ = rows()
    domain = Domain.of(features)
    inside = features[:3]
    low_res = np.array([[1.0, 0.0, 1.0, 0.0, 250e6]])
    tiny = np.array([[0.0, 1.0, 1.0, 0.0, 50e6]])
    assert domain.contains(inside).all()
    assert not domain.contains(low_res)[0] and not domain.contains(tiny)[0]
    assert domain.distance(low_res)[0] == pytest.approx(2.0)  # resolution=160 seen as 0 only, 224 as 1 only
    assert domain.distance(tiny)[0] == pytest.approx((features[:, 4].min() - 50e6) / np.ptp(features[:, 4]))
    described = domain.describe(NAMES)
    assert described["resolution"] == [224] and described["kernel"] == [3, 5]
    assert described["macs"] == [features[:, 4].min(), features[:, 4].max()]


@pytest.mark.parametrize("kind", ["ridge_gbm", "blend"])
def test_fitted_predictor_flags_rows_outside_and_keeps_the_domain_in_its_file(kind: str, tmp_path: Path) -> None:
    features, targets = rows()
    options = {"rounds": 20} if kind == "ridge_gbm" else {"members": 2, "hidden": (8,), "steps": 20}
    model = create_predictor(kind, feature_names=NAMES, seed=0, **options).fit(features, targets)
    model.space, model.num_classes = "ofa_mbv3", 1000
    probe = np.vstack([features[:2], [[1.0, 0.0, 1.0, 0.0, 250e6]], [[0.0, 1.0, 0.0, 1.0, 1e9]]])
    assert model.in_domain(probe).tolist() == [True, True, False, False]
    loaded = load_predictor(model.save(tmp_path / "p"))
    assert loaded.in_domain(probe).tolist() == [True, True, False, False]
    assert np.allclose(loaded.domain_distance(probe), model.domain_distance(probe))
    assert (loaded.space, loaded.num_classes) == ("ofa_mbv3", 1000)
    assert loaded.describe_domain()["resolution"] == [224]
    meta = json.loads((tmp_path / "p" / "predictor.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION == 2


def test_version_1_files_load_without_a_domain(tmp_path: Path) -> None:
    features, targets = rows()
    model = create_predictor("gbm", feature_names=NAMES, rounds=10).fit(features, targets)
    folder = model.save(tmp_path / "p")
    meta = json.loads((folder / "predictor.json").read_text())
    for key in ("domain", "space", "num_classes"):
        del meta[key]
    (folder / "predictor.json").write_text(json.dumps({**meta, "format_version": 1}))
    old = load_predictor(folder)
    assert old.domain is None and old.space is None and old.describe_domain() is None
    assert old.in_domain(features[:3]).all() and np.allclose(old.predict(features), model.predict(features))


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ({"low": [0, 0], "high": [1, 1]}, "5 entries"),
        ({"low": [0] * 5, "high": [1, 1, 1, 1, -1]}, "low <= high"),
        ({"low": [0] * 5}, "'low' and 'high'"),
        ({"low": ["a"] * 5, "high": [1] * 5}, "list of numbers"),
    ],
)
def test_malformed_domains_are_checkpoint_errors(tmp_path: Path, domain: dict, message: str) -> None:
    features, targets = rows()
    folder = create_predictor("gbm", feature_names=NAMES, rounds=5).fit(features, targets).save(tmp_path / "p")
    meta = json.loads((folder / "predictor.json").read_text())
    (folder / "predictor.json").write_text(json.dumps({**meta, "domain": domain}))
    with pytest.raises(CheckpointError, match=message):
        load_predictor(folder)
    (folder / "predictor.json").write_text(json.dumps({**meta, "space": 3}))
    with pytest.raises(CheckpointError, match="space must be a string"):
        load_predictor(folder)
