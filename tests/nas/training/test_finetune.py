"""Fine-tuning from another supernet's weights (``nas train --init-from``): every weight but the classifier comes
from the file (a platform supernet file, or a once-for-all checkpoint with --net), the classifier starts fresh,
shape mismatches are typed errors, and a fine-tuning run killed mid-epoch resumes to the uninterrupted result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

import nas
from nas.cli import main
from nas.core.config import config_to_dict
from nas.data import load_dataset
from nas.supernet.importing import import_published
from nas.supernet.registry import create_supernet
from nas.training.config import TrainConfig
from nas.training.evaluation import evaluate
from nas.training.trainer import Trainer
from nas.training.transfer import classifier_keys, transfer_weights
from search_spaces import CheckpointError, ConfigError
from tests.conftest import randomize_
from tests.kills import kill_mid_epoch
from tests.nas.training.test_training import _run_cli, tiny_config
from tests.ofa_files import write_synthetic_checkpoint

W10 = "ofa_mbv3_d234_e346_k357_w1.0"


@pytest.fixture(scope="module")
def ofa_w10_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic once-for-all w1.0 checkpoint in the published layout."""
    return write_synthetic_checkpoint(W10, tmp_path_factory.mktemp("ofa") / "w10.pth")


def _finetune_config(init_from: Path, **changes: object) -> TrainConfig:
    """One epoch on 64 images of digits 5-9 from ``init_from`` (once-for-all's w1.0), at resolution 24."""
    settings: dict[str, object] = {
        "init_from": str(init_from),
        "init_net": W10,
        "data": {"limit_train": 64, "classes": ["5", "6", "7", "8", "9"]},
        "phases": [{"epochs": 1, "random_subnets": 1, "resolutions": [24]}],
    }
    return tiny_config(**{**settings, **changes})


def test_ofa_import_fine_tunes_on_digits_with_a_fresh_classifier(tmp_path: Path, ofa_w10_file: Path) -> None:
    trainer = Trainer.start(_finetune_config(ofa_w10_file, num_classes=5), "ft", root=tmp_path, progress=False)
    imported = import_published(ofa_w10_file, W10).state_dict()
    start = {key: tensor.clone() for key, tensor in trainer.supernet.state_dict().items()}
    fresh = set(classifier_keys(trainer.supernet))
    assert fresh == {"classifier.weight", "classifier.bias"}
    assert start["classifier.weight"].shape == (5, imported["classifier.weight"].shape[1])
    assert all(torch.equal(start[key], imported[key]) for key in start if key not in fresh)
    manifest = json.loads((tmp_path / "ft" / "manifest.json").read_text())
    assert manifest["init_from"]["net"] == W10 and len(manifest["init_from"]["sha256"]) == 64

    summary = trainer.fit()
    tuned = nas.load_supernet(summary.supernet_path)
    assert tuned.num_classes == 5 and summary.steps == 2
    changed = [key for key, tensor in tuned.state_dict().items() if not torch.equal(tensor, start[key])]
    assert "classifier.weight" in changed and any(key.startswith("stages.") for key in changed)
    images = torch.randn(2, 3, 24, 24)
    for arch in (tuned.space.largest(), tuned.space.smallest()):
        logits = tuned.extract(arch).eval()(images)
        assert logits.shape == (2, 5) and bool(torch.isfinite(logits).all())


def test_platform_supernet_file_initializes_another_class_count(tmp_path: Path) -> None:
    source = randomize_(create_supernet("ofa_mbv3_small", num_classes=3))
    path = source.save(tmp_path / "source.pt")
    config = tiny_config(init_from=str(path), phases=[{"epochs": 1, "random_subnets": 1, "resolutions": [24]}])
    trainer = Trainer.start(config, "from_file", root=tmp_path, progress=False)
    ours, theirs = trainer.supernet.state_dict(), source.state_dict()
    assert ours["classifier.weight"].shape[0] == 10
    assert all(torch.equal(ours[key], theirs[key]) for key in ours if not key.startswith("classifier."))


def test_shape_mismatch_names_the_first_key_and_both_shapes(tmp_path: Path) -> None:
    wider = create_supernet("ofa_mbv3_w12", num_classes=10)
    target = create_supernet("ofa_mbv3_small", num_classes=10)
    mismatch = next(key for key, tensor in target.state_dict().items() if wider.state_dict()[key].shape != tensor.shape)
    with pytest.raises(CheckpointError, match=rf"{mismatch} has shape \(\d+(, \d+)*\) in the file but \(\d"):
        transfer_weights(wider, target, "wider.pt")
    path = wider.save(tmp_path / "wider.pt")
    config = tiny_config(init_from=str(path))
    with pytest.raises(CheckpointError, match=mismatch):
        Trainer.start(config, "refused", root=tmp_path, progress=False)
    assert not (tmp_path / "refused").exists()


def test_bad_init_input_is_a_typed_error(tmp_path: Path, ofa_w10_file: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        Trainer.start(tiny_config(init_from=str(tmp_path / "missing.pt")), "a", root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="num_classes=7"):
        Trainer.start(_finetune_config(ofa_w10_file, num_classes=7), "b", root=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="init_net"):
        tiny_config(init_net=W10)
    with pytest.raises(CheckpointError):  # a published checkpoint read as a platform supernet file
        Trainer.start(tiny_config(init_from=str(ofa_w10_file)), "c", root=tmp_path, progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")


@pytest.mark.slow
def test_fine_tuning_killed_mid_epoch_resumes_to_the_uninterrupted_run(tmp_path: Path, ofa_w10_file: Path) -> None:
    config = _finetune_config(ofa_w10_file, phases=[{"epochs": 3, "random_subnets": 1, "resolutions": [24]}])
    config_path = tmp_path / "finetune.yaml"
    config_path.write_text(yaml.safe_dump(config_to_dict(config)))
    flags = ["--init-from", str(ofa_w10_file), "--net", W10, "--num-classes", "5", "--classes", "5-9", "--quiet"]
    reference = _run_cli(["train", "--config", str(config_path), "--name", "reference", *flags], tmp_path)
    victim = _run_cli(["train", "--config", str(config_path), "--name", "victim", *flags], tmp_path)
    checkpoint = tmp_path / "runs" / "victim" / "checkpoints" / "last.pt"
    kill_mid_epoch(victim, checkpoint, min_step=3)

    resumed = _run_cli(["train", "--resume", "runs/victim", "--quiet", "--json"], tmp_path)
    _out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    _out, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err

    expected = nas.load_supernet(tmp_path / "runs" / "reference" / "supernet.pt").state_dict()
    actual = nas.load_supernet(tmp_path / "runs" / "victim" / "supernet.pt").state_dict()
    assert all(torch.equal(expected[key], actual[key]) for key in expected)
    assert expected["classifier.weight"].shape[0] == 5


def test_eval_recalibrates_on_the_images_and_batch_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)  # tiny batches: one thread avoids oversubscribing a shared machine (as tiny_config)
    supernet = randomize_(create_supernet("ofa_mbv3_small", num_classes=5))
    supernet.save(tmp_path / "s.pt")
    calibration = ["--calibration-images", "150", "--calibration-batch", "50"]
    argv = [
        "eval",
        "--supernet",
        str(tmp_path / "s.pt"),
        "--arch",
        "smallest",
        "--classes",
        "5-9",
        "--resolution",
        "16",
    ]
    assert main([*argv, *calibration, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["calibration_images"], report["calibration_batch"]) == (150, 50)
    data = load_dataset("digits", resolution=16, classes=["5", "6", "7", "8", "9"])
    expected = evaluate(supernet, supernet.space.smallest(), data, "test", 150, calibration_batch=50)
    assert report["results"][0]["accuracy"] == expected.accuracy
    key = json.loads((tmp_path / "eval_cache.jsonl").read_text().splitlines()[0])["key"]
    assert key.endswith(":test:150/50") and ":digits[5,6,7,8,9]:" in key

    with pytest.raises(SystemExit):  # the defaults once-for-all uses are documented in --help
        main(["eval", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "2,000 training images in batches of 200" in out and "ceil(r/0.875)" in out
