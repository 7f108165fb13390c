"""The ofa_mbv3 space reproduces the original once-for-all parameter and MAC counts exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import nas
from predictors import count_macs, count_params


@pytest.fixture
def reference_rows(benchdata: Path) -> list[dict]:
    path = benchdata / "ofa_mbv3_w10_reference.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_reference_config_matches_params_and_macs(reference_rows: list[dict]) -> None:
    assert len(reference_rows) == 40
    supernet = nas.create_supernet("ofa_mbv3", num_classes=1000)
    space = supernet.space
    mismatches = []
    for row in reference_rows:
        arch = space.from_ofa_config(row, extra_keys=("num_classes", "params", "macs"))
        subnet = supernet.extract(arch)
        measured = (count_params(subnet), count_macs(subnet, row["r"]))
        if measured != (row["params"], row["macs"]):
            mismatches.append((row, measured))
    assert not mismatches, mismatches[:3]


def test_reference_extremes_are_the_space_extremes(reference_rows: list[dict]) -> None:
    space = nas.get_space("ofa_mbv3")
    extra = ("num_classes", "params", "macs")
    assert space.from_ofa_config(reference_rows[0], extra_keys=extra) == space.smallest()
    assert space.from_ofa_config(reference_rows[1], extra_keys=extra) == space.largest()
