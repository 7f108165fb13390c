"""Typed configs: unknown keys, wrong types and bad values name the dotted field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nas.core.config import config_to_dict, load_yaml, parse_config
from nas.training.config import TrainConfig, progressive_shrinking_phases
from search_spaces import ConfigError, NasError


@pytest.mark.parametrize(
    ("data", "field", "fragment"),
    [
        ({"epochz": 3}, "epochz", "unknown config key 'epochz'"),
        ({"data": {"nmae": "digits"}}, "data.nmae", "unknown config key 'data.nmae'"),
        ({"optim": {"optimizer": "lion"}}, "optim.optimizer", "not in {'sgd', 'adamw'}"),
        ({"batch_size": "64"}, "batch_size", "must be an integer"),
        ({"batch_size": True}, "batch_size", "must be an integer"),
        ({"optim": {"lr": "fast"}}, "optim.lr", "must be a number"),
        ({"phases": {"epochs": 3}}, "phases", "must be a list"),
        ({"phases": [{"teacher": "oracle"}]}, "phases[0].teacher", "not in"),
        ({"channels_last": "yes"}, "channels_last", "true or false"),
        ({"data": ["digits"]}, "data", "must be a mapping"),
    ],
)
def test_bad_config_names_the_field(data: dict, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(TrainConfig, data)
    assert caught.value.field == field
    assert fragment in str(caught.value)


def test_value_checks_in_config_objects() -> None:
    with pytest.raises(ConfigError, match="batch_size=0"):
        parse_config(TrainConfig, {"batch_size": 0})
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        parse_config(TrainConfig, {"optim": {"lr": -1}})
    with pytest.raises(ConfigError, match="at least one phase"):
        parse_config(TrainConfig, {"phases": []})


def test_round_trip_through_dict_and_yaml(tmp_path: Path) -> None:
    import yaml

    config = TrainConfig(phases=progressive_shrinking_phases(2))
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(config)))
    assert parse_config(TrainConfig, load_yaml(path)) == config


def test_yaml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("batch_size: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_yaml(tmp_path / "list.yaml")
    (tmp_path / "code.yaml").write_text("seed: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "code.yaml")


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=4)),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(
                st.sampled_from(["seed", "data", "optim", "phases", "name", "lr", "epochs"]),
                children,
                max_size=3,
            ),
        ),
        max_leaves=8,
    )
)
def test_property_any_document_parses_or_raises_config_error(document: object) -> None:
    try:
        parse_config(TrainConfig, document if isinstance(document, dict) else {"phases": document})
    except NasError as error:
        assert str(error)


@pytest.mark.parametrize("section", ["data: [1, 2]\n", "optim: 3\n", "phases: {epochs: 2}\n"])
def test_cli_flags_over_malformed_sections_give_typed_errors(tmp_path: Path, section: str) -> None:
    from nas.cli import main

    config = tmp_path / "c.yaml"
    config.write_text(section)
    argv = ["train", "--config", str(config), "--data", "digits", "--lr", "0.1", "--epochs", "1", "--name", "x"]
    assert main(argv) == 2
