"""A search with a predicted objective keeps its front inside the predictor's training domain, unless told to
extrapolate; the space comes from the predictor.

The predictor is fitted (LightGBM, as ``nas predictor fit --kind gbm``) on DyNAS-T's real ImageNet accuracies of
once-for-all subnets, all at 224 px. Off that resolution it extrapolates: a 128-px subnet of a few tens of M-MACs
is scored like the smallest 224-px ones, so an unconstrained search fills the low-MAC end of its front with them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from nas.cli import main
from nas.search.config import ExecutionConfig, SearchConfig
from nas.search.driver import run_search
from predictors import load_predictor
from tests.conftest import BENCHDATA

TABLE = "ofa_imagenet/mbnv3w10_linasga_acc.csv"


@pytest.fixture(scope="module")
def predictor_224(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gbm predictor of ImageNet top-1 fitted on 224-px subnets only, saved by ``nas predictor fit``."""
    if not (BENCHDATA / TABLE).is_file():  # as the benchdata fixture: missing data fails, it never skips
        pytest.fail(f"benchmark data not found at {BENCHDATA / TABLE}; it ships beside the project in ../shared")
    folder = tmp_path_factory.mktemp("predictor") / "top1"
    argv = ["predictor", "fit", "--table", str(BENCHDATA / TABLE), "--space", "ofa_mbv3", "--target"]
    argv += ["Top-1 Acc (%)", "--kind", "gbm", "--num-classes", "1000", "--test-size", "60", "--out", str(folder)]
    assert main([*argv, "--json"]) == 0
    return folder


def search(predictor: Path, runs: Path, name: str, allow: bool) -> pd.DataFrame:
    config = SearchConfig(
        objectives=("accuracy", "macs"),
        predictor=str(predictor),  # no space: the predictor names it
        trials=240,
        population=24,
        allow_extrapolation=allow,
        execution=ExecutionConfig(batch=48),
    )
    result = run_search(config, name, runs, progress=False)
    assert json.loads((result.run_dir / "search_config.json").read_text())["space"] == "ofa_mbv3"
    return pd.read_csv(result.run_dir / "front.csv")


def test_fit_records_the_domain_and_space(predictor_224: Path) -> None:
    model = load_predictor(predictor_224)
    assert (model.space, model.num_classes, model.target) == ("ofa_mbv3", 1000, "Top-1 Acc (%)")
    domain = model.describe_domain()
    assert domain is not None and domain["resolution"] == [224]
    low, high = domain["macs"]
    assert 100e6 < low < high < 500e6  # the table's 122M..479M, less the held-out rows
    assert sorted(domain["s2_b1_kernel"]) == [3, 5, 7]


def test_search_keeps_the_front_inside_the_domain_unless_told(predictor_224: Path, tmp_path: Path, capsys) -> None:
    kept = search(predictor_224, tmp_path, "kept", allow=False)
    assert len(kept) > 0
    assert kept["in_domain"].astype(bool).all()
    assert set(kept["resolution"]) == {224}
    assert (kept["violation_domain"] <= 0).all()
    assert kept["accuracy"].between(0.6, 0.9).all()  # "Top-1 Acc (%)" predicted, reported as a fraction

    assert main(["report", str(tmp_path / "kept"), "--json"]) == 0  # nas report shows the flag per front row
    rows = json.loads(capsys.readouterr().out)["front"]
    assert rows and all(row["in_domain"] is True for row in rows)

    loose = search(predictor_224, tmp_path, "loose", allow=True)
    outside = loose[~loose["in_domain"].astype(bool)]
    assert len(outside) > 0  # extrapolated subnets reach the front: what the default guards against
    assert (outside["resolution"] != 224).any()
    assert outside["macs"].min() < kept["macs"].min()


def test_eval_writes_predictions_with_in_domain(predictor_224: Path, tmp_path: Path, capsys) -> None:
    import random

    from search_spaces import get_space

    space = get_space("ofa_mbv3")
    archs = [space.sample(random.Random(i)) for i in range(12)]
    archs += [space.validate({**a.to_dict(), "resolution": 224}) for a in archs[:4]]
    frame = pd.DataFrame({"Sub-network": [repr(space.to_ofa_config(a)) for a in archs], "Top-1 Acc (%)": 75.0})
    frame["Top-1 Acc (%)"] += [0.1 * i for i in range(len(archs))]
    frame.to_csv(tmp_path / "probe.csv", index=False)
    out = tmp_path / "predictions.csv"
    argv = ["predictor", "eval", "--predictor", str(predictor_224), "--table", str(tmp_path / "probe.csv")]
    assert main([*argv, "--out", str(out), "--json"]) == 0  # space and classes come from the predictor
    report = json.loads(capsys.readouterr().out)
    written = pd.read_csv(out)
    assert list(written.columns[-4:]) == ["Top-1 Acc (%)", "predicted", "spread", "in_domain"]
    assert report["in_domain_rows"] == int(written["in_domain"].sum())
    assert not written.loc[written["resolution"] != 224, "in_domain"].any()


def test_a_predictor_without_a_space_needs_space(predictor_224: Path, tmp_path: Path) -> None:
    import shutil

    from search_spaces import ConfigError

    old = tmp_path / "old"
    shutil.copytree(predictor_224, old)
    meta = json.loads((old / "predictor.json").read_text())
    (old / "predictor.json").write_text(json.dumps({**meta, "space": None}))
    with pytest.raises(ConfigError, match="--space is needed"):
        search(old, tmp_path, "x", allow=False)
