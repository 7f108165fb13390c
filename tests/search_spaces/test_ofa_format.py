"""once-for-all's spec format as its tools write it (``"wid": null``, ``"r": [224]``) is read wherever an arch is
read, and written back by ``to_ofa_config``."""

from __future__ import annotations

import ast
import csv
import json
import random
from pathlib import Path

import pytest

from search_spaces import get_space, list_spaces
from search_spaces.parsing import parse_arch
from tests.reliability.helpers import run_nas

OFA_SPACES = [name for name in list_spaces() if get_space(name).ofa_keys]


@pytest.mark.parametrize("name", OFA_SPACES)
def test_specs_round_trip_through_json_text_in_once_for_alls_format(name: str) -> None:
    space = get_space(name)
    rng = random.Random(0)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(10))]:
        spec = space.to_ofa_config(arch)
        assert isinstance(spec["r"], list) and len(spec["r"]) == 1
        assert parse_arch(json.dumps(spec), space) == arch


def test_a_dynast_row_and_the_integer_resolution_of_older_tables_are_both_read(benchdata: Path) -> None:
    space = get_space("ofa_mbv3")
    with open(benchdata / "ofa_imagenet" / "mbnv3w10_linasga_acc.csv") as handle:
        row = next(csv.DictReader(handle))
    spec = ast.literal_eval(row["Sub-network"])
    assert spec["wid"] is None and spec["r"] == [224]
    arch = space.from_ofa_config(spec)
    assert space.from_ofa_config({**spec, "r": 224}) == arch
    assert space.to_ofa_config(arch)["r"] == [224]


def test_nas_arch_show_accepts_once_for_alls_own_spec(tmp_path: Path) -> None:
    space = get_space("ofa_mbv3")
    spec = {"wid": None, **{k: v for k, v in space.to_ofa_config(space.largest()).items() if k != "wid"}}
    result = run_nas(["arch", "show", json.dumps(spec), "--space", "ofa_mbv3", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["archs"][0]["ofa_config"] == spec
