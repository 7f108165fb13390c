"""Latency profiling of a space: every part covered, the table predicts whole subnets, and the CLI end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from nas.cli import main
from nas.profile.tables import profile_table, random_archs
from nas.profile.timers import CpuTimer
from nas.profile.validation import validate_table
from nas.supernet.families.mobilenetv3.parts import distinct_parts, subnet_parts
from nas.supernet.latency import LatencyModel
from nas.supernet.registry import family_of, list_supernets, part_model
from predictors.latency import LatencyTable
from search_spaces import ConfigError, get_space


@pytest.mark.parametrize("name", ["ofa_mbv3", "ofa_mbv3_small"])
def test_distinct_parts_cover_every_part_of_random_archs(name: str) -> None:
    space = get_space(name)
    keys = {part.key for part in distinct_parts(space, 10)}
    rng = random.Random(0)
    for _ in range(200):
        assert {part.key for part in subnet_parts(space, space.sample(rng), 10)} <= keys
    for arch in (space.smallest(), space.largest()):
        assert {part.key for part in subnet_parts(space, arch, 10)} <= keys


def test_random_archs_are_distinct_and_avoid_the_excluded() -> None:
    space = get_space("ofa_mbv3_small")
    first = random_archs(space, 20, seed=0)
    second = random_archs(space, 20, seed=0, exclude=first)
    assert len(set(first)) == 20 and not set(first) & set(second)


@pytest.mark.slow
def test_profiled_table_ranks_small_below_large_and_fits_a_model() -> None:
    space = get_space("ofa_mbv3_small")
    timer = CpuTimer(warmup=1, min_repeats=5, min_seconds=0.0, rounds=3)
    table = profile_table(space, timer, batch=1, num_classes=10, calibration=6, progress=False)
    assert len(table.entries) == len(distinct_parts(space, 10))
    assert all(entry["rounds"] >= 3 and entry["macs"] > 0 and entry["ops"] > 0 for entry in table.entries.values())
    assert table.model is not None and table.model.samples == 6 and table.model.note
    assert table.reference_ms and table.machine["reference"]["arch"] == "smallest"
    model = LatencyModel(table, space)
    # per-part medians rank the 9 M MAC subnet below the 66 M one; the model, fitted on 6 end-to-end timings,
    # is only checked to predict positive times
    small, large = model.raw([space.smallest(), space.largest()])
    assert 0 < small < large
    assert np.all(model.predict([space.smallest(), space.largest()]) > 0)


def _smallest_space_of_each_family_with_parts() -> list[str]:
    """One space per family that models latency parts: the one with the fewest distinct parts (quickest to time)."""
    families = {family_of(name).name: family_of(name) for name in list_supernets()}
    return [
        min(family.spaces, key=lambda space: len(part_model(get_space(space), 10).distinct_parts()))
        for family in families.values()
        if family.parts is not None
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", _smallest_space_of_each_family_with_parts())
def test_every_family_with_parts_is_profiled_and_validated_through_the_family_contract(name: str) -> None:
    space = get_space(name)
    timer = CpuTimer(threads=1, warmup=1, min_repeats=3, min_seconds=0.0, rounds=2)
    table = profile_table(space, timer, batch=1, num_classes=10, calibration=6, progress=False)
    assert len(table.entries) == len(part_model(space, 10).distinct_parts()) and table.reference_ms
    report = validate_table(table, space, timer, count=4, seed=3, progress=False)
    assert report["subnets"] == 4 and report["at_table_speed"] and len(report["rows"]) == 4
    assert all(row["predicted_ms"] > 0 and row["measured_ms"] > 0 for row in report["rows"])
    assert np.isfinite(report["floor_mape"]) and np.isfinite(report["mape"])


@pytest.mark.parametrize("name", [name for name in list_supernets() if family_of(name).parts is None])
def test_a_family_without_parts_is_refused_by_name(name: str) -> None:
    with pytest.raises(ConfigError, match=f"latency tables are not modelled for family .* \\(space '{name}'\\)"):
        profile_table(get_space(name), CpuTimer(threads=1), batch=1, num_classes=10, progress=False)


def test_latency_model_refuses_a_table_of_another_space() -> None:
    table = LatencyTable("ofa_mbv3", "cpu", 1, 10, {})
    with pytest.raises(ConfigError, match="space 'ofa_mbv3', not 'ofa_mbv3_small'"):
        LatencyModel(table, get_space("ofa_mbv3_small"))


@pytest.mark.slow
def test_profile_validate_predict_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cpu.json"
    common = ["--repeats", "3", "--min-time", "0", "--json"]
    args = ["profile", "--space", "ofa_mbv3_small", "--num-classes", "10", "--calibration", "5", "--out", str(out)]
    assert main([*args, "--validate", "4", *common]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parts"] == len(distinct_parts(get_space("ofa_mbv3_small"), 10)) and report["subnets"] == 4
    figures = {"mape", "within_10pct", "kendall_tau", "spearman", "raw_mape", "floor_mape", "floor_spearman"}
    assert figures <= set(report)
    assert report["at_table_speed"] and len(report["speed"]) == 2
    saved = LatencyTable.load(out).validation
    assert saved is not None and saved["floor_mape"] == report["floor_mape"] and "rows" not in saved
    before = out.read_bytes()
    assert main([*args, *common]) == 2  # refuses to replace the table without --overwrite
    assert "--overwrite" in capsys.readouterr().err and out.read_bytes() == before

    assert main(["latency", "validate", str(out), "--n", "3", *common]) == 0
    validation = json.loads(capsys.readouterr().out)
    assert validation["subnets"] == 3 and Path(validation["report"]).is_file()
    assert main(["latency", "validate", str(out), "--n", "3", "--repeats", "3", "--min-time", "0"]) == 0
    printed = capsys.readouterr().out
    assert "noise floor (round 2 vs 1)" in printed and "table / floor: MAPE" in printed

    assert main(["latency", "predict", str(out), "--arch", "smallest", "largest", "--json"]) == 0
    small, large = json.loads(capsys.readouterr().out)["predicted_ms"]
    assert 0 < small < large
    assert main(["latency", "predict", str(tmp_path / "none.json"), "--arch", "smallest"]) == 2
    assert "does not exist" in capsys.readouterr().err
