"""Supernet training: recipes run, resume after SIGKILL repeats the uninterrupted run, bad input is refused."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import nas
from nas.core.config import parse_config
from nas.core.files import load_torch_file
from nas.training.config import PhaseConfig, TrainConfig, progressive_shrinking_phases
from nas.training.evaluation import EvalCache, calibrate_bn, evaluate, file_digest
from nas.training.trainer import Trainer, TrainingDivergedError
from tests.conftest import REPO_ROOT
from tests.kills import kill_mid_epoch


def tiny_config(**changes: object) -> TrainConfig:
    """A few steps on 96 digits images at low resolution: seconds on a CPU."""
    data = {
        "supernet": "ofa_mbv3_small",
        "batch_size": 32,
        "data": {"limit_train": 96},
        "phases": [{"epochs": 2, "random_subnets": 1, "resolutions": [24]}],
        "checkpoint_every": 1,
        "deterministic": True,
        "threads": 1,
        "calibration_images": 64,
    }
    data.update(changes)
    return parse_config(TrainConfig, data)


def test_sandwich_recipe_trains_and_writes_its_run_folder(tmp_path: Path) -> None:
    trainer = Trainer.start(tiny_config(), "sandwich", root=tmp_path, progress=False)
    summary = trainer.fit()
    run = tmp_path / "sandwich"
    for name in ("config.yaml", "manifest.json", "metrics.csv", "supernet.pt", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").iterdir())
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert summary.steps == 6
    loaded = nas.load_supernet(summary.supernet_path)
    assert loaded.num_classes == 10


def test_progressive_shrinking_runs_every_phase_from_one_config(tmp_path: Path) -> None:
    phases = progressive_shrinking_phases(1)
    for phase in phases:
        phase.resolutions = [24]
    config = tiny_config(phases=[vars(p) for p in phases], data={"limit_train": 64})
    trainer = Trainer.start(config, "ps", root=tmp_path, progress=False)
    trainer.fit()
    rows = list(csv.DictReader((tmp_path / "ps" / "metrics.csv").open()))
    assert [r["phase"] for r in rows] == [p.name for p in phases]


def test_macs_prior_sampler_is_usable(tmp_path: Path) -> None:
    trainer = Trainer.start(tiny_config(sampler="macs_prior"), "prior", root=tmp_path, progress=False)
    assert trainer.fit().steps == 6


def _run_cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "nas", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    config = tiny_config(phases=[{"epochs": 3, "random_subnets": 1, "resolutions": [24]}])
    config_path = tmp_path / "train.yaml"
    from nas.core.config import config_to_dict

    config_path.write_text(yaml.safe_dump(config_to_dict(config)))
    reference = _run_cli(["train", "--config", str(config_path), "--name", "reference", "--quiet"], tmp_path)
    victim = _run_cli(["train", "--config", str(config_path), "--name", "victim", "--quiet"], tmp_path)
    checkpoint = tmp_path / "runs" / "victim" / "checkpoints" / "last.pt"
    kill_mid_epoch(victim, checkpoint, min_step=4)
    assert not (tmp_path / "runs" / "victim" / "supernet.pt").exists()

    resumed = _run_cli(["train", "--resume", "runs/victim", "--quiet", "--json"], tmp_path)
    _out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    reference.communicate(timeout=300)
    assert reference.returncode == 0

    expected = nas.load_supernet(tmp_path / "runs" / "reference" / "supernet.pt").state_dict()
    actual = nas.load_supernet(tmp_path / "runs" / "victim" / "supernet.pt").state_dict()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    columns = ("epoch", "step", "loss", "student_loss", "train_acc", "lr")
    rows = [
        [{c: r[c] for c in columns} for r in csv.DictReader((tmp_path / "runs" / n / "metrics.csv").open())]
        for n in ("reference", "victim")
    ]
    assert rows[0] == rows[1]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = Trainer.start(tiny_config(), "nan", root=tmp_path, progress=False)
    original = trainer.supernet.forward
    calls = {"n": 0}

    def poisoned(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        out = original(x)
        return out * float("nan") if calls["n"] > 6 else out  # three subnets per step: NaN in step 3

    monkeypatch.setattr(trainer.supernet, "forward", poisoned)
    with pytest.raises(TrainingDivergedError, match="loss became nan at step 2"):
        trainer.fit()
    checkpoint = load_torch_file(tmp_path / "nan" / "checkpoints" / "last.pt")
    assert checkpoint["position"]["global_step"] == 2
    state = checkpoint["supernet_payload"]["state_dict"]
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def test_existing_run_folder_is_never_overwritten(tmp_path: Path) -> None:
    Trainer.start(tiny_config(), "taken", root=tmp_path, progress=False).fit()
    before = (tmp_path / "taken" / "supernet.pt").read_bytes()
    with pytest.raises(nas.ConfigError, match="already exists"):
        Trainer.start(tiny_config(), "taken", root=tmp_path, progress=False)
    assert (tmp_path / "taken" / "supernet.pt").read_bytes() == before


def test_resume_refuses_missing_corrupt_or_foreign_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(nas.CheckpointError, match="not a training run"):
        Trainer.resume(tmp_path / "nothing")
    trainer = Trainer.start(tiny_config(), "run", root=tmp_path, progress=False)
    trainer.save_checkpoint()
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(nas.CheckpointError, match="corrupt"):
        Trainer.resume(tmp_path / "run")
    other = nas.create_supernet("ofa_mbv3", num_classes=10)
    other.save(last)
    with pytest.raises(nas.CheckpointError, match="not a version-1 training checkpoint"):
        Trainer.resume(tmp_path / "run")


def test_empty_or_too_small_data_is_refused(tmp_path: Path) -> None:
    (tmp_path / "images" / "cats").mkdir(parents=True)
    config = tiny_config(data={"name": "imagefolder", "root": str(tmp_path / "images")})
    with pytest.raises(nas.DataError):
        Trainer(config, tmp_path / "x", progress=False)
    with pytest.raises(nas.ConfigError, match="larger than the training split"):
        Trainer(tiny_config(batch_size=200), tmp_path / "y", progress=False)


def test_calibration_recovers_subnet_statistics_and_cache_avoids_recomputing(tmp_path: Path) -> None:
    trainer = Trainer.start(tiny_config(), "eval", root=tmp_path, progress=False)
    summary = trainer.fit()
    supernet = trainer.supernet.eval()
    arch = supernet.space.smallest()
    subnet = supernet.extract(arch)
    images = trainer.data.train.images[:64]
    calibrate_bn(subnet, images)
    bn = subnet.stem.bn
    features = subnet.stem.conv(images)
    assert torch.allclose(bn.running_mean, features.mean((0, 2, 3)), atol=1e-4)

    cache = EvalCache(tmp_path / "cache.jsonl", file_digest(summary.supernet_path), "digits")
    first = evaluate(supernet, arch, trainer.data, "val", 64, cache=cache)
    assert len(cache) == 1
    reloaded = EvalCache(tmp_path / "cache.jsonl", file_digest(summary.supernet_path), "digits")
    assert reloaded.get(reloaded.key(arch, "val", 64)) == first
    with open(tmp_path / "cache.jsonl", "a") as stream:
        stream.write('{"key": "torn')  # a killed writer leaves a partial line; it is ignored
    assert len(EvalCache(tmp_path / "cache.jsonl", file_digest(summary.supernet_path), "digits")) == 1
    with pytest.raises(nas.ConfigError, match="split='dev'"):
        evaluate(supernet, arch, trainer.data, "dev")


def test_phase_choices_outside_the_space_are_refused(tmp_path: Path) -> None:
    config = tiny_config(phases=[{"epochs": 1, "kernel_sizes": [9]}])
    with pytest.raises(nas.ConfigError, match="kernel_sizes value 9"):
        Trainer.start(config, "k9", root=tmp_path, progress=False).fit()
    assert PhaseConfig().teacher == "inplace"


@pytest.mark.slow
def test_two_process_torchrun_with_gloo_trains_in_sync(tmp_path: Path) -> None:
    from nas.core.config import config_to_dict

    config = tiny_config(batch_size=16, data={"limit_train": 128}, phases=[{"epochs": 1, "resolutions": [24]}])
    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(yaml.safe_dump(config_to_dict(config)))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "nas",
            "train",
            "--config",
            str(config_path),
            "--name",
            "ddp",
            "--quiet",
            "--json",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "ddp"
    manifest = yaml.safe_load((run / "manifest.json").read_text())
    assert manifest["world_size"] == 2
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert int(rows[-1]["step"]) == 128 // (16 * 2)  # each step consumed a global batch of 32
    assert nas.load_supernet(run / "supernet.pt").num_classes == 10
