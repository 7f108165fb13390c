"""Bad-input corpus: YAML training configs (``nas train --config``), read by ``load_yaml`` and ``parse_config``.

Each case must give a ``ConfigError`` naming the dotted field (or the file) and what is allowed; YAML tags that
would build Python objects are refused, never evaluated."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from nas.core.config import config_to_dict, load_yaml, parse_config
from nas.training.config import TrainConfig
from nas.training.trainer import Trainer
from search_spaces import ConfigError, NasError, UnknownNameError
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas, tiny_train_config

GOOD = yaml.safe_dump(tiny_train_config(), sort_keys=False)
LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
)  # 10**9 leaves if expanded

CASES = [
    # malformed
    ("unclosed_bracket", "batch_size: [1, 2\n", ["not valid YAML"]),
    ("tab_indent", "seed:\t1\n", ["not valid YAML"]),
    ("bad_indent", "optim:\n  lr: 0.1\n momentum: 0.9\n", ["not valid YAML"]),
    ("binary_bytes", "\udcff\udcfe\x00", ["not valid YAML"]),
    ("duplicate_key", "seed: 1\nbatch_size: 8\nseed: 2\n", ["duplicate key 'seed'"]),
    ("duplicate_nested_key", "optim:\n  lr: 0.1\n  lr: 0.2\n", ["duplicate key 'lr'"]),
    # truncated
    ("cut_mid_document", GOOD[: GOOD.index("phases") + 12], ["phases[0] must be a mapping, got str"]),
    ("cut_mid_key", GOOD[: GOOD.index("phases") + 3], ["could not find expected ':' at line 5, column 4"]),
    ("cut_mid_flow", "phases: [{epochs: 2, resolut", ["not valid YAML"]),
    # wrong type
    ("a_list", "- 1\n- 2\n", ["must hold a mapping of settings, got list"]),
    ("a_scalar", "42\n", ["must hold a mapping of settings, got int"]),
    ("batch_size_text", "batch_size: '64'\n", ["batch_size='64' must be an integer"]),
    ("batch_size_bool", "batch_size: true\n", ["batch_size=True must be an integer"]),
    ("lr_text", "optim: {lr: fast}\n", ["optim.lr='fast' must be a number"]),
    ("data_list", "data: [digits]\n", ["data must be a mapping, got list"]),
    ("phases_mapping", "phases: {epochs: 3}\n", ["phases must be a list, got dict"]),
    ("resolutions_nested", "phases: [{resolutions: [[24]]}]\n", ["phases[0].resolutions[0]=[24] must be an integer"]),
    ("channels_last_yes", "channels_last: 'yes'\n", ["channels_last='yes' must be true or false"]),
    ("seed_date", "seed: 2020-01-01\n", ["seed=datetime.date(2020, 1, 1) must be an integer"]),
    ("optimizer_lion", "optim: {optimizer: lion}\n", ["optim.optimizer='lion' not in {'sgd', 'adamw'}"]),
    ("teacher_oracle", "phases: [{teacher: oracle}]\n", ["phases[0].teacher='oracle' not in"]),
    # unknown keys
    ("unknown_top_key", "epochz: 3\n", ["unknown config key 'epochz'", "allowed keys"]),
    ("unknown_nested_key", "data: {nmae: digits}\n", ["unknown config key 'data.nmae'"]),
    ("integer_key", "1: 2\n", ["unknown config key '1'"]),
    ("null_key", "~: 2\n", ["unknown config key 'None'"]),
    # out of range
    ("batch_size_0", "batch_size: 0\n", ["batch_size=0 must be in 1..65536"]),
    ("batch_size_huge", "batch_size: 100000000000000000000000\n", ["batch_size=1000", "must be in 1..65536"]),
    ("lr_negative", "optim: {lr: -1}\n", ["optim.lr=-1.0 must be > 0"]),
    ("lr_nan", "optim: {lr: .nan}\n", ["optim.lr=nan must be a finite number"]),
    ("lr_infinite", "optim: {lr: .inf}\n", ["optim.lr=inf must be a finite number"]),
    ("lr_huge_integer", "optim: {lr: " + "9" * 400 + "}\n", ["optim.lr=999", "must be a finite number"]),
    ("momentum_5", "optim: {momentum: 5}\n", ["optim.momentum=5.0 must be in [0, 1)"]),
    ("weight_decay_negative", "optim: {weight_decay: -0.1}\n", ["optim.weight_decay=-0.1 must be >= 0"]),
    ("label_smoothing_1", "optim: {label_smoothing: 1.0}\n", ["optim.label_smoothing=1.0 must be in [0, 1)"]),
    ("grad_clip_nan", "optim: {grad_clip: .nan}\n", ["optim.grad_clip=nan must be a finite number"]),
    ("seed_negative", "seed: -1\n", ["seed=-1 must be in 0..4294967295"]),
    ("seed_2_to_64", "seed: 18446744073709551616\n", ["seed=1844", "must be in 0..4294967295"]),
    ("threads_negative", "threads: -3\n", ["threads=-3 must be in 0..1024"]),
    ("epochs_0", "phases: [{epochs: 0}]\n", ["phase 'sandwich': epochs=0 must be in 1..100000"]),
    ("epochs_1e20", "phases: [{epochs: 100000000000000000000}]\n", ["epochs=1000", "must be in 1..100000"]),
    ("random_subnets_negative", "phases: [{random_subnets: -1}]\n", ["random_subnets=-1 must be in 0..64"]),
    ("lr_scale_zero", "phases: [{lr_scale: 0}]\n", ["lr_scale=0.0 must be > 0"]),
    ("no_phases", "phases: []\n", ["phases must list at least one phase"]),
    ("kd_temperature_0", "kd_temperature: 0\n", ["kd_temperature=0.0 must be > 0"]),
    ("student_weight_2", "student_label_weight: 2\n", ["student_label_weight=2.0 must be in [0, 1]"]),
    ("checkpoint_every_0", "checkpoint_every: 0\n", ["checkpoint_every=0 must be >= 1"]),
    ("calibration_0", "calibration_images: 0\n", ["calibration_images=0 must be >= 1"]),
    ("resolution_negative", "data: {resolution: -32}\n", ["data.resolution=-32 must be in 1..4096"]),
    ("val_fraction_1_5", "data: {val_fraction: 1.5}\n", ["data.val_fraction=1.5 must be in [0, 1)"]),
    ("fractions_sum_1", "data: {val_fraction: 0.5, test_fraction: 0.6}\n", ["data.test_fraction=0.6 must be < 0.5"]),
    ("augment_shift_negative", "data: {augment_shift: -1}\n", ["data.augment_shift=-1 must be in 0..64"]),
    ("limit_train_negative", "data: {limit_train: -5}\n", ["data.limit_train=-5 must be >= 0"]),
    # hostile
    ("python_object_apply", "seed: !!python/object/apply:os.system ['touch PWNED']\n", ["python/object/apply"]),
    ("python_name", "seed: !!python/name:os.system\n", ["python/name:os.system"]),
    ("python_module", "seed: !!python/module:os\n", ["python/module:os"]),
    ("python_new_object", "data: !!python/object/new:os.system [echo]\n", ["python/object/new"]),
    ("nested_20k_lists", "seed: " + "[" * 20_000 + "]" * 20_000 + "\n", ["nested too deeply"]),
    ("nested_5k_maps", "seed: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n", ["nested too deeply"]),
    ("billion_laughs", LAUGHS, ["unknown config key 'a0'"]),
    ("laughs_in_a_field", LAUGHS.replace("a8:", "phases: [{resolutions: *a7}]\na8:"), ["unknown config key 'a0'"]),
    ("megabyte_value", "seed: '" + "x" * 1_000_000 + "'\n", ["seed='xxx", "must be an integer"]),
    ("megabyte_key", "'" + "k" * 1_000_000 + "': 1\n", ["not valid YAML"]),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_yaml_config_is_refused_naming_the_field(text: str, fragments: list[str], tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    started = time.monotonic()
    with pytest.raises(NasError) as caught:
        parse_config(TrainConfig, load_yaml(path))
    assert time.monotonic() - started < 10, "a hostile config must fail fast"
    check_error(caught.value, ConfigError, *fragments)
    assert not (tmp_path / "PWNED").exists()


def test_good_config_round_trips(tmp_path: Path) -> None:
    """The base of the corpus parses, so each case fails for its own defect."""
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    config = parse_config(TrainConfig, load_yaml(path))
    assert config_to_dict(config)["batch_size"] == 32
    merged = tmp_path / "merge.yaml"  # YAML merge keys are plain data and still work
    merged.write_text("optim:\n  <<: {lr: 0.05, momentum: 0.5}\n  momentum: 0.8\n")
    optim = parse_config(TrainConfig, load_yaml(merged)).optim
    assert (optim.lr, optim.momentum) == (0.05, 0.8)


@pytest.mark.parametrize(
    ("path_of", "fragment"),
    [
        (lambda tmp: tmp / "missing.yaml", "does not exist"),
        (lambda tmp: tmp, "does not exist"),  # a folder
        (lambda tmp: tmp / ".." / ".." / "etc" / "no_such_config.yaml", "no_such_config.yaml"),
    ],
    ids=["missing", "folder", "path_traversal"],
)
def test_config_files_that_cannot_be_read(path_of: object, fragment: str, tmp_path: Path) -> None:
    with pytest.raises(NasError) as caught:
        load_yaml(path_of(tmp_path))  # type: ignore[operator]
    check_error(caught.value, ConfigError, fragment)


@pytest.mark.parametrize(
    ("changes", "kind", "fragment"),
    [
        ({"device": "tpu9"}, ConfigError, "device='tpu9' is not a torch device"),
        ({"data": {"name": "../../etc"}}, UnknownNameError, "unknown data set '../../etc'"),
        ({"supernet": "resnet_9000"}, UnknownNameError, "unknown supernet 'resnet_9000'"),
    ],
    ids=["device", "data_set_traversal", "supernet"],
)
def test_values_checked_when_the_run_is_built_leave_no_folder(
    changes: dict, kind: type[NasError], fragment: str, tmp_path: Path
) -> None:
    config = parse_config(TrainConfig, tiny_train_config(**changes))
    with pytest.raises(NasError) as caught:
        Trainer.start(config, "refused", root=tmp_path, progress=False)
    check_error(caught.value, kind, fragment)
    assert not (tmp_path / "refused").exists()


def test_cli_refuses_an_unsafe_yaml_config_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "evil.yaml"
    config.write_text(f"seed: !!python/object/apply:os.system ['touch {tmp_path / 'PWNED'}']\n")
    result = run_nas(["train", "--config", str(config), "--name", "evil"], tmp_path)
    check_cli_refusal(result, "not valid YAML", "python/object/apply")
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "runs" / "evil").exists()
