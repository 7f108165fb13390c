"""Bad architectures and configs give one typed error that names the field, the value and what is allowed."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_spaces import InvalidArchError, NasError, UnknownNameError, get_space
from search_spaces.parsing import arch_from_json

SPACE = get_space("ofa_mbv3")


def ofa_config(**changes: object) -> dict[str, object]:
    config: dict[str, object] = {"ks": [3] * 20, "e": [4] * 20, "d": [2] * 5, "r": 160}
    config.update(changes)
    return config


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        (ofa_config(ks=[3] * 19), "ks", "19 entries, expected 20"),
        (ofa_config(e=[4] * 21), "e", "21 entries, expected 20"),
        (ofa_config(d=[2] * 4), "d", "4 entries, expected 5"),
        (ofa_config(ks=[3, 3, 3, 4] + [3] * 16), "ks[3]", "ks[3]=4 not in {3, 5, 7}"),
        (ofa_config(e=[4] * 19 + [5]), "e[19]", "e[19]=5 not in {3, 4, 6}"),
        (ofa_config(d=[2, 2, 1, 2, 2]), "d[2]", "d[2]=1 not in {2, 3, 4}"),
        (ofa_config(r=130), "r", "r=130 not in {128, 132, ..., 224}"),
        (ofa_config(r="160"), "r", "has type str"),
        (ofa_config(ks="3"), "ks", "must be a list"),
        (ofa_config(ks=[3.5] * 20), "ks[0]", "ks[0]=3.5"),
        (ofa_config(d=[True] * 5), "d[0]", "d[0]=True"),
        (ofa_config(extra=1), "extra", "unknown field 'extra'"),
        ({"ks": [3] * 20, "e": [4] * 20, "d": [2] * 5}, "r", "missing field 'r'"),
    ],
)
def test_bad_ofa_configs_name_the_field(config: dict[str, object], field: str, fragment: str) -> None:
    with pytest.raises(InvalidArchError) as caught:
        SPACE.from_ofa_config(config)
    assert caught.value.field == field
    assert fragment in str(caught.value)


@pytest.mark.parametrize("document", ["[1, 2, 3]", '"ofa_mbv3"', "42", "null"])
def test_json_that_is_not_an_object_is_rejected(document: str) -> None:
    with pytest.raises(InvalidArchError, match="must be a JSON object"):
        arch_from_json(document, space="ofa_mbv3")
    with pytest.raises(InvalidArchError, match="must be a JSON object"):
        SPACE.from_ofa_config(json.loads(document))


def test_malformed_json_text_is_rejected() -> None:
    with pytest.raises(InvalidArchError, match="not valid JSON"):
        arch_from_json('{"space": "ofa_mbv3", ', space="ofa_mbv3")


def test_label_form_errors_name_the_label() -> None:
    values = SPACE.largest().to_dict()
    with pytest.raises(InvalidArchError) as caught:
        SPACE.validate({**values, "s3_b2_kernel": 4})
    assert caught.value.field == "s3_b2_kernel" and "s3_b2_kernel=4 not in {3, 5, 7}" in str(caught.value)
    missing = dict(values)
    del missing["s2_b4_expand"]
    with pytest.raises(InvalidArchError, match="missing field 's2_b4_expand'"):
        SPACE.validate(missing)
    with pytest.raises(InvalidArchError, match="unknown field 's9_depth'"):
        SPACE.validate({**values, "s9_depth": 2})
    with pytest.raises(InvalidArchError, match="has type str"):
        SPACE.validate({**values, "resolution": "224"})


def test_space_mismatch_and_unknown_space() -> None:
    arch = SPACE.largest()
    with pytest.raises(InvalidArchError, match="does not match"):
        arch_from_json(arch.to_json(), space="ofa_mbv3_small")
    with pytest.raises(UnknownNameError) as caught:
        get_space("mobilenet_v9")
    assert "ofa_mbv3" in str(caught.value) and isinstance(caught.value, NasError)


def test_inactive_blocks_are_dropped_so_equal_networks_are_equal() -> None:
    shallow = SPACE.smallest().to_dict()
    with_extra = {**shallow, "s1_b4_kernel": 7, "s1_b4_expand": 6}
    assert SPACE.validate(with_extra) == SPACE.smallest()
    assert "s1_b3_kernel" not in SPACE.smallest()


def test_ofa_config_round_trip_keeps_the_network() -> None:
    rng = random.Random(3)
    for _ in range(30):
        arch = SPACE.sample(rng)
        assert SPACE.from_ofa_config(SPACE.to_ofa_config(arch)) == arch


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_property_encode_decode_round_trip(rng: random.Random) -> None:
    for space_name in ("ofa_mbv3", "ofa_mbv3_small"):
        space = get_space(space_name)
        arch = space.mutate(space.sample(rng), rng, rate=0.5)
        assert arch_from_json(arch.to_json()) == arch
        assert space.validate(json.loads(json.dumps(arch.to_dict()))) == arch


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["ks", "e", "d", "r", "x"]),
        st.one_of(st.integers(-10, 300), st.lists(st.integers(0, 8), max_size=22), st.text(max_size=3), st.none()),
    )
)
def test_property_arbitrary_configs_never_escape_the_error_root(config: dict[str, object]) -> None:
    try:
        SPACE.from_ofa_config(config)
    except NasError as error:
        assert str(error)
