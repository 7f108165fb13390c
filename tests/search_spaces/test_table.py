"""Table-backed spaces: NB201 arch strings, reading tables in three formats, and the errors of malformed tables."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_spaces import DataError, InvalidArchError, get_space
from search_spaces.nb201 import OPS, format_arch_str, live_edges, parse_arch_str
from search_spaces.table import read_arch_table

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_nb201_strings_round_trip_and_cover_the_space():
    space = get_space("nb201")
    rng = random.Random(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert parse_arch_str(format_arch_str(arch)) == arch
    arch = parse_arch_str(BEST)
    assert arch["edge_3_0"] == "skip_connect" and format_arch_str(arch) == BEST
    assert len(space.decisions()) == 6 and all(d.choices == OPS for d in space.decisions())
    assert len(space.encode(arch)) == len(space.feature_names()) == 40


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "conv~0"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "none~1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2"),
    ],
)
def test_bad_nb201_strings_name_the_wrong_part(text, names):
    with pytest.raises(InvalidArchError, match=names):
        parse_arch_str(text)


def test_live_edges_follow_paths_without_none():
    dead = parse_arch_str("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert live_edges(dead) == [False] * 6
    # only 0 -> 1 -> 3 connects; 0 -> 2 leads nowhere because 2 -> 3 is none
    chain = parse_arch_str("|skip_connect~0|+|nor_conv_1x1~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    assert live_edges(chain) == [True, False, False, False, True, False]
    features = dict(zip(get_space("nb201").feature_names(), get_space("nb201").encode(chain)))
    assert features["count_nor_conv_1x1"] == 1 and features["live_nor_conv_1x1"] == 0
    assert features["live_nor_conv_3x3"] == 1


def _rows():
    return [
        {"kernel": k, "act": a, "acc": 90 + k / 10 + (a == "relu"), "lat": k * 2.0}
        for k in (3, 5, 7)
        for a in ("relu", "gelu")
    ]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_generic_tables_read_in_every_format(tmp_path, suffix):
    path = tmp_path / f"tiny{suffix}"
    frame = pd.DataFrame(_rows())
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".jsonl":
        path.write_text("\n".join(json.dumps(r) for r in _rows()))
    else:
        frame.to_parquet(path)
    table = read_arch_table(path, ["kernel", "act"], ["acc", "lat"])
    assert len(table) == 6 and table.space.name == "tiny"
    assert [d.choices for d in table.space.decisions()] == [(3, 5, 7), ("gelu", "relu")]
    arch = table.space.validate({"kernel": 5, "act": "relu"})
    assert table.values([arch], "acc")[0] == pytest.approx(91.5)
    assert table.values([arch], "lat")[0] == 10.0


def _write(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "columns", "message"),
    [
        ("kernel,act,acc\n3,relu,90\n", ["kernel", "act"], "no column 'lat'"),
        ("kernel,act,acc,lat\n3,relu,90,1\n5,relu,high,2\n", ["kernel", "act"], "row 3, column 'acc'.*'high'"),
        ("kernel,act,acc,lat\n3,relu,90,1\n5,relu,,2\n", ["kernel", "act"], "row 3, column 'acc': empty"),
        ("kernel,act,acc,lat\n3,relu,90,1\n5,gelu,91,2\n3,relu,92,3\n", ["kernel", "act"], "row 4.*same as row 2"),
        ("", ["kernel", "act"], "is empty"),
        ("kernel,act,acc,lat\n", ["kernel", "act"], "no rows"),
        ("kernel,act,acc,lat\n3,,90,1\n", ["kernel", "act"], "row 2, column 'act'"),
    ],
)
def test_malformed_tables_name_file_row_and_column(tmp_path, text, columns, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=message) as error:
        read_arch_table(path, columns, ["acc", "lat"])
    assert str(path) in str(error.value)


def test_bad_arch_strings_and_files_are_data_errors(tmp_path):
    path = _write(tmp_path, f"arch_str,acc\n{BEST},94\n|bad|,90\n")
    with pytest.raises(DataError, match="row 3, column 'arch_str'"):
        read_arch_table(path, ["arch_str"], ["acc"], "nb201")
    with pytest.raises(DataError, match="does not exist"):
        read_arch_table(tmp_path / "missing.csv", ["a"], ["b"])
    with pytest.raises(DataError, match="unknown table format"):
        read_arch_table(_write(tmp_path, "a", "t.xlsx"), ["a"], ["b"])


def test_join_adds_columns_and_refuses_missing_archs(tmp_path):
    accuracy = read_arch_table(_write(tmp_path, f"arch_str,acc\n{BEST},94\n", "a.csv"), ["arch_str"], ["acc"], "nb201")
    other = BEST.replace("skip_connect", "none")
    latency = read_arch_table(
        _write(tmp_path, f"arch_str,ms\n{other},2\n{BEST},3\n", "l.csv"), ["arch_str"], ["ms"], "nb201"
    )
    joined = accuracy.join(latency)
    assert joined.column("ms").tolist() == [3.0]
    with pytest.raises(DataError, match="has no row for 1 archs"):
        latency.join(accuracy)


@given(st.tuples(*[st.sampled_from(OPS)] * 6))
def test_every_nb201_cell_round_trips_through_its_string(ops):
    space = get_space("nb201")
    arch = space.validate(dict(zip([d.label for d in space.decisions()], ops)))
    assert parse_arch_str(format_arch_str(arch)) == arch


@given(st.text(alphabet="|+~_0123noecvkiplsa", max_size=60))
def test_arbitrary_arch_strings_fail_only_with_a_typed_error(text):
    try:
        parse_arch_str(text)
    except InvalidArchError as error:
        assert error.field == "arch_str"
