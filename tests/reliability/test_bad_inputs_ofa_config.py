"""Bad-input corpus: OFA's own config format ``{"wid": null, "ks": [20], "e": [20], "d": [5], "r": [int]}``, read by
``from_ofa_config`` of both MobileNetV3 spaces, given inline to the CLI, and as the ks/e/d/r columns of a table.

Each case must fail with ``InvalidArchError`` naming the key (and index) and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from search_spaces import DataError, InvalidArchError, NasError, get_space
from search_spaces.parsing import parse_arch
from search_spaces.table import read_arch_table
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas

BIG = get_space("ofa_mbv3")
SMALL = get_space("ofa_mbv3_small")


def config(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"ks": [3] * 20, "e": [4] * 20, "d": [2] * 5, "r": 160}
    values.update(changes)
    return values


def without(key: str) -> dict[str, Any]:
    values = config()
    del values[key]
    return values


CASES = [
    # malformed / truncated
    ("missing_ks", without("ks"), ["missing field 'ks'"]),
    ("missing_e", without("e"), ["missing field 'e'"]),
    ("missing_d", without("d"), ["missing field 'd'"]),
    ("missing_r", without("r"), ["missing field 'r'"]),
    ("ks_cut_short", config(ks=[3] * 7), ["ks has 7 entries, expected 20"]),
    ("e_empty", config(e=[]), ["e has 0 entries, expected 20"]),
    ("d_one_too_many", config(d=[2] * 6), ["d has 6 entries, expected 5"]),
    # wrong type
    ("not_an_object", [3, 4, 2, 160], ["OFA config must be a JSON object"]),
    ("ks_string", config(ks="3,3,3"), ["ks must be a list of 20 integers, got str"]),
    ("ks_null", config(ks=None), ["ks must be a list of 20 integers, got NoneType"]),
    ("e_object", config(e={"0": 4}), ["e must be a list of 20 integers, got dict"]),
    ("ks_floats", config(ks=[3.0] * 20), ["ks[0]=3.0 not in {3, 5, 7}"]),
    ("ks_nested", config(ks=[[3]] * 20), ["ks[0]=[3] not in {3, 5, 7}"]),
    ("d_bools", config(d=[True] * 5), ["d[0]=True not in {2, 3, 4}"]),
    ("e_strings", config(e=["4"] * 20), ["e[0]='4' not in {3, 4, 6}"]),
    ("r_string", config(r="160"), ["r='160' has type str"]),
    ("r_two_resolutions", config(r=[160, 192]), ["r=[160, 192] must be one resolution"]),
    ("r_list_of_string", config(r=["160"]), ["r='160' has type str"]),
    ("wid_not_null", config(wid=1.0), ["wid=1.0 in OFA config: only null is supported"]),
    ("r_null", config(r=None), ["r=None has type NoneType"]),
    # out of range
    ("ks_4_at_slot_3", config(ks=[3, 3, 3, 4] + [3] * 16), ["ks[3]=4 not in {3, 5, 7}"]),
    ("e_5_at_last_slot", config(e=[4] * 19 + [5]), ["e[19]=5 not in {3, 4, 6}"]),
    ("d_1", config(d=[2, 2, 1, 2, 2]), ["d[2]=1 not in {2, 3, 4}"]),
    ("d_negative", config(d=[2, 2, 2, 2, -4]), ["d[4]=-4 not in {2, 3, 4}"]),
    ("r_130", config(r=130), ["r=130 not in {128, 132, ..., 224}"]),
    ("r_zero", config(r=0), ["r=0 not in"]),
    ("r_nan", config(r=float("nan")), ["r=nan has type float"]),
    ("r_infinite", config(r=float("inf")), ["r=inf has type float"]),
    ("r_huge", config(r=10**400), ["r=1000", "not in"]),
    ("ks_huge", config(ks=[10**400] * 20), ["ks[0]=1000", "not in {3, 5, 7}"]),
    # hostile
    ("ks_million_entries", config(ks=[3] * 1_000_000), ["ks has 1000000 entries, expected 20"]),
    ("extra_key", config(extra=1), ["unknown field 'extra' in OFA config; allowed: ks, e, d, r, wid"]),
    ("proto_key", config(__proto__={"polluted": True}), ["unknown field '__proto__'"]),
    ("integer_key", {**config(), 1: 2}, ["unknown field 1"]),
    ("megabyte_key", config(**{"k" * 1_000_000: 1}), ["unknown field 'kkk"]),
]


@pytest.mark.parametrize(("document", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_ofa_config_is_refused_naming_the_field(document: Any, fragments: list[str]) -> None:
    with pytest.raises(NasError) as caught:
        BIG.from_ofa_config(document)
    check_error(caught.value, InvalidArchError, *fragments)


SMALL_CASES = [
    ("r_224_for_32px_space", {"r": 224}, ["r=224 not in {24, 28, 32}"]),
    ("r_16", {"r": 16}, ["r=16 not in {24, 28, 32}"]),
    ("d_too_short", {"d": [2, 2]}, ["d has 2 entries, expected 5"]),
]


@pytest.mark.parametrize(("changes", "fragments"), [c[1:] for c in SMALL_CASES], ids=[c[0] for c in SMALL_CASES])
def test_small_space_has_its_own_ranges(changes: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(NasError) as caught:
        SMALL.from_ofa_config(config(**{"r": 32, **changes}))
    check_error(caught.value, InvalidArchError, *fragments)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            json.dumps({"ks": [3] * 20}),
            "missing field 'e'",
        ),  # a partial OFA config says what it lacks, not "unknown field 'ks'"
        ('{"ks": [3], "e": [4], "d": [2], "r": 160}', "ks has 1 entries, expected 20"),
        (json.dumps(config(r=10**400)), "r=1000"),
    ],
)
def test_inline_ofa_configs_on_the_command_line(text: str, fragment: str) -> None:
    with pytest.raises(NasError) as caught:
        parse_arch(text, BIG)
    check_error(caught.value, InvalidArchError, fragment)


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [
        ("[3, 3]", "ks has 2 entries, expected 20"),
        ("[" * 50_000, "ks must be a list"),  # nested too deeply to parse: kept as text, refused as not a list
        ("9" * 5000, "ks must be a list"),
        ("not json", "ks must be a list"),
    ],
    ids=["short_list", "deep_brackets", "integer_5000_digits", "text"],
)
def test_ofa_columns_of_a_table_name_file_row_and_field(cell: str, fragment: str, tmp_path: Path) -> None:
    row = {**SMALL.to_ofa_config(SMALL.smallest()), "val_loss": 0.5}
    row = {key: json.dumps(value) if isinstance(value, list) else value for key, value in row.items()}
    bad = {**row, "ks": cell}
    path = tmp_path / "ofa.csv"
    pd.DataFrame([row, bad]).to_csv(path, index=False)
    with pytest.raises(NasError) as caught:
        read_arch_table(path, space=SMALL)
    check_error(caught.value, DataError, "ofa.csv", "row 3", fragment)


def test_cli_refuses_a_bad_ofa_config_without_a_traceback(tmp_path: Path) -> None:
    result = run_nas(["arch", "show", json.dumps(config(ks=[3, 3, 3, 4] + [3] * 16)), "--space", "ofa_mbv3"], tmp_path)
    check_cli_refusal(result, "ks[3]=4 not in {3, 5, 7}")
