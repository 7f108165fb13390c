"""Property-based tests (hypothesis) over every registered search space's arch encode/decode and over config
parsing: valid input round-trips exactly; any other input is refused with the platform's own error."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.core.config import config_to_dict, load_yaml, parse_config
from nas.training.config import TrainConfig
from search_spaces import ConfigError, InvalidArchError, NasError, get_space, list_spaces
from search_spaces.parsing import arch_from_json

SPACES = list_spaces()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(0, 300), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


class RandomTrial:
    """What a space needs of an Optuna trial, answering from a seeded RNG."""

    def __init__(self, rng: random.Random):
        self.rng, self.params = rng, {}

    def suggest_categorical(self, name: str, choices: list) -> object:
        self.params[name] = self.rng.choice(choices)
        return self.params[name]


@pytest.mark.parametrize("space_name", SPACES)
@SETTINGS
@given(rng=st.randoms(use_true_random=False))
def test_sampled_mutated_crossed_and_suggested_archs_round_trip(space_name: str, rng: random.Random) -> None:
    space = get_space(space_name)
    first, second = space.sample(rng), space.sample(rng)
    trial = RandomTrial(rng)
    for arch in (first, space.mutate(first, rng, rate=0.5), space.crossover(first, second, rng), space.suggest(trial)):
        assert arch_from_json(arch.to_json()) == arch
        assert space.validate(json.loads(json.dumps(arch.to_dict()))) == arch
        assert hash(arch_from_json(arch.to_json())) == hash(arch) and arch_from_json(str(arch)).key == arch.key
        features = space.encode(arch)
        assert len(features) == len(space.feature_names())
        assert all(isinstance(value, float) and value == value for value in features)
        if space.ofa_keys:
            assert space.from_ofa_config(json.loads(json.dumps(space.to_ofa_config(arch)))) == arch


@pytest.mark.parametrize("space_name", SPACES)
@SETTINGS
@given(rng=st.randoms(use_true_random=False), value=ANY_VALUE, pick=st.integers(0, 10**6))
def test_any_value_in_any_field_is_accepted_only_if_allowed(
    space_name: str, rng: random.Random, value: object, pick: int
) -> None:
    space = get_space(space_name)
    arch = space.sample(rng)
    label = list(arch)[pick % len(arch)]
    decision = next(d for d in space.decisions() if d.label == label)
    try:
        result = space.validate({**arch.to_dict(), label: value})
    except InvalidArchError as error:
        assert error.field == label or str(error).startswith("missing field"), error  # a depth gates blocks
        assert len(str(error)) < 600
    else:
        assert result[label] in decision.choices and result[label] == value


@pytest.mark.parametrize("space_name", SPACES)
@SETTINGS
@given(document=st.dictionaries(st.text(max_size=12), ANY_VALUE, max_size=6))
def test_any_json_object_is_an_arch_or_a_typed_error(space_name: str, document: dict) -> None:
    try:
        arch = arch_from_json(json.dumps(document), space=space_name)
    except NasError as error:
        assert str(error) and len(str(error)) < 600
    else:
        assert arch.space == space_name


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text_is_an_arch_or_a_typed_error(text: str) -> None:
    try:
        arch_from_json(text)
    except NasError as error:
        assert str(error)


def valid_configs() -> st.SearchStrategy[dict]:
    """Training config documents with every field inside its allowed range."""
    phase = st.fixed_dictionaries(
        {
            "epochs": st.integers(1, 100_000),
            "random_subnets": st.integers(0, 64),
            "lr_scale": st.floats(1e-6, 1e3),
            "teacher": st.sampled_from(["inplace", "frozen_full", "none"]),
            "resolutions": st.lists(st.sampled_from([24, 28, 32]), max_size=3),
        }
    )
    return st.fixed_dictionaries(
        {
            "batch_size": st.integers(1, 65536),
            "seed": st.integers(0, 2**32 - 1),
            "threads": st.integers(0, 1024),
            "kd_temperature": st.floats(1e-3, 1e3),
            "student_label_weight": st.floats(0, 1),
            "optim": st.fixed_dictionaries(
                {
                    "optimizer": st.sampled_from(["sgd", "adamw"]),
                    "lr": st.floats(1e-9, 10),
                    "momentum": st.floats(0, 0.999),
                    "label_smoothing": st.floats(0, 0.99),
                }
            ),
            "data": st.fixed_dictionaries({"val_fraction": st.floats(0, 0.45), "test_fraction": st.floats(0, 0.45)}),
            "phases": st.lists(phase, min_size=1, max_size=3),
        }
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=valid_configs())
def test_valid_configs_round_trip_through_yaml(document: dict, tmp_path: Path) -> None:
    config = parse_config(TrainConfig, document)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(config)))
    assert parse_config(TrainConfig, load_yaml(path)) == config


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    document=st.dictionaries(
        st.sampled_from(["seed", "batch_size", "optim", "data", "phases", "threads", "lr", "epochs", "device"]),
        st.recursive(
            ANY_VALUE,
            lambda inner: st.one_of(
                st.lists(inner, max_size=3),
                st.dictionaries(
                    st.sampled_from(["lr", "epochs", "name", "momentum", "resolutions", "x"]), inner, max_size=3
                ),
            ),
            max_leaves=6,
        ),
        max_size=4,
    )
)
def test_any_config_document_parses_or_names_the_field(document: dict) -> None:
    try:
        parse_config(TrainConfig, document)
    except ConfigError as error:
        assert error.field is not None and str(error) and len(str(error)) < 600


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=80))
def test_any_yaml_text_parses_or_is_a_config_error(text: str, tmp_path: Path) -> None:
    path = tmp_path / "any.yaml"
    path.write_text(text)
    try:
        parse_config(TrainConfig, load_yaml(path))
    except ConfigError as error:
        assert str(error)
