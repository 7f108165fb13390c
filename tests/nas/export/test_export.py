"""`nas export`: artifacts in every format checked against the supernet, model cards, front export with an index,
all-or-nothing output folders, and typed errors (exit code 2) for bad input."""

from __future__ import annotations

import json
import random
import shutil
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

import nas
from nas.cli import main
from nas.data import DataSplits, TensorImageDataset, load_dataset
from nas.export import FORMATS, ParityError, export_front, export_subnet, load_subnet
from nas.search.config import ExecutionConfig
from nas.search.driver import SearchConfig, run_search
from nas.supernet.families.mobilenetv3.parts import subnet_macs
from nas.supernet.families.mobilenetv3.static import MobileNetV3Subnet
from nas.training.evaluation import calibrate_bn, file_digest, resize
from search_spaces import CheckpointError, ConfigError, InvalidArchError, UnknownNameError
from search_spaces.parsing import parse_arch

SPACE = "ofa_mbv3_small"
FAST: dict[str, Any] = {"latency": False, "calibration_images": 64}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    """One intra-op thread: on a loaded 2-core CI machine two OpenMP threads can make small convolutions 50x
    slower (spinning at barriers while descheduled), and these tests check numbers, not speed."""
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def supernet_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("supernet") / "supernet.pt"
    nas.save_supernet(nas.create_supernet(SPACE, num_classes=10), path)
    return path


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    """The digits splits cut to 128 training and 32 test images, so each export takes seconds."""
    full = load_dataset("digits")

    def cut(split: Any, count: int) -> TensorImageDataset:
        return TensorImageDataset(split.images[:count], split.labels[:count], split.mean, split.std)

    return replace(full, train=cut(full.train, 128), test=cut(full.test, 32))


@pytest.fixture(scope="module")
def search_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (cheap) search of the space: MACs vs parameters, no supernet needed."""
    config = SearchConfig(
        objectives=["macs", "params"],
        budgets=["params=5M"],
        space=SPACE,
        trials=10,
        population=5,
        execution=ExecutionConfig(batch=5),
    )
    return run_search(config, "run", tmp_path_factory.mktemp("search"), progress=False).run_dir


def reference_logits(supernet_path: Path, arch: nas.Arch, data: DataSplits, images: torch.Tensor) -> torch.Tensor:
    """Independently of the exporter: recalibrate the supernet's own BN for ``arch`` and run it in eval mode."""
    supernet = nas.load_supernet(supernet_path)
    supernet.set_active(arch)
    calibrate_bn(supernet, resize(data.train.images[:64], int(arch["resolution"])))
    with torch.no_grad():
        return supernet.eval()(images)


def arch_images(data: DataSplits, arch: nas.Arch, count: int = 8) -> torch.Tensor:
    return resize(data.test.images[:count], int(arch["resolution"]))


def test_pytorch_round_trip_equals_the_supernets_forward(
    tmp_path: Path, supernet_path: Path, digits: DataSplits
) -> None:
    space = nas.get_space(SPACE)
    arch = space.sample(random.Random(3))
    digest = file_digest(supernet_path)
    out = tmp_path / "model"
    card = export_subnet(supernet_path, arch, out, ["pytorch"], digits, **FAST)
    model = load_subnet(out)
    assert isinstance(model, MobileNetV3Subnet) and not model.training and model.arch == arch
    images = arch_images(digits, arch)
    with torch.no_grad():
        logits = model(images)
    torch.testing.assert_close(logits, reference_logits(supernet_path, arch, digits, images), atol=1e-4, rtol=0)
    assert file_digest(supernet_path) == digest  # the supernet file is untouched
    on_disk = json.loads((out / "card.json").read_text())
    assert on_disk["arch"] == arch.to_dict() and on_disk["ofa_config"] == space.to_ofa_config(arch)
    assert on_disk["supernet"]["sha256"] == digest and on_disk["space"] == SPACE
    assert on_disk["macs"] == subnet_macs(space, arch, 10) == card["macs"]
    assert on_disk["params"] == sum(p.numel() for p in model.parameters())
    assert on_disk["memory"]["weights_bytes_fp32"] > 0 and 0 <= on_disk["accuracy"]["accuracy"] <= 1
    assert on_disk["parity"]["max_abs_diff"]["pytorch"] <= 1e-4 and on_disk["versions"]["torch"]
    assert "## Formats and parity" in (out / "card.md").read_text()
    assert parse_arch(str(out / "arch.json"), space) == arch  # `nas eval --arch DIR/arch.json`
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging folder left behind
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    (tampered / "arch.json").write_text(space.largest().to_json())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_subnet(tampered)


def test_onnx_export_runs_in_onnxruntime_and_is_timed(tmp_path: Path, supernet_path: Path, digits: DataSplits) -> None:
    import onnxruntime

    arch = nas.get_space(SPACE).largest()
    card = export_subnet(supernet_path, "largest", tmp_path / "onnx", ["onnx"], digits, calibration_images=64)
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    images = arch_images(digits, arch, 5)  # a batch size other than the export's: the batch axis is dynamic
    (logits,) = session.run(["logits"], {"input": images.numpy()})
    expected = reference_logits(supernet_path, arch, digits, images).numpy()
    assert np.abs(logits - expected).max() <= 1e-4
    latency = card["latency"]
    assert latency["pytorch"]["median_ms"] > 0 and latency["onnxruntime"]["median_ms"] > 0
    assert card["parity"]["max_abs_diff"]["onnx"] <= 1e-4 and card["versions"]["onnxruntime"]
    assert "ONNX Runtime" in (tmp_path / "onnx" / "card.md").read_text()


@pytest.mark.parametrize("fmt", ["torchscript", "pt2"])
def test_torchscript_and_torch_export_programs(
    tmp_path: Path, supernet_path: Path, digits: DataSplits, fmt: str
) -> None:
    arch = nas.get_space(SPACE).smallest()
    card = export_subnet(supernet_path, "smallest", tmp_path / fmt, [fmt], digits, **FAST)
    (name,) = FORMATS[fmt].files
    path = tmp_path / fmt / name
    if fmt == "pt2":
        model = torch.export.load(str(path)).module()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit is deprecated; loading it still works
            model = torch.jit.load(str(path))
    images = arch_images(digits, arch, 3)
    with torch.no_grad():
        torch.testing.assert_close(
            model(images), reference_logits(supernet_path, arch, digits, images), atol=1e-4, rtol=0
        )
    assert card["formats"][fmt]["files"][0]["bytes"] == path.stat().st_size


def test_failed_parity_check_leaves_nothing_and_keeps_the_old_folder(
    tmp_path: Path, supernet_path: Path, digits: DataSplits, monkeypatch: pytest.MonkeyPatch
) -> None:
    honest = FORMATS["pytorch"]

    def skewed(folder: Path) -> Any:
        run = honest.load(folder)
        return lambda images: run(images) + 1e-3

    monkeypatch.setitem(FORMATS._entries, "pytorch", replace(honest, load=skewed))
    with pytest.raises(ParityError, match="pytorch") as caught:
        export_subnet(supernet_path, "smallest", tmp_path / "new", ["pytorch"], digits, **FAST)
    assert caught.value.max_abs_diff == pytest.approx(1e-3, rel=1e-2) and isinstance(caught.value, nas.NasError)
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old"
    old.mkdir()
    (old / "keep.txt").write_text("previous export")
    with pytest.raises(ParityError):
        export_subnet(supernet_path, "smallest", old, ["pytorch"], digits, overwrite=True, **FAST)
    assert [p.name for p in tmp_path.iterdir()] == ["old"] and (old / "keep.txt").read_text() == "previous export"


def test_existing_folder_is_refused_unless_overwrite(tmp_path: Path, supernet_path: Path, digits: DataSplits) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--overwrite"):
        export_subnet(supernet_path, "smallest", out, ["pytorch"], digits, **FAST)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    export_subnet(supernet_path, "smallest", out, ["pytorch"], digits, overwrite=True, **FAST)
    assert sorted(p.name for p in out.iterdir()) == ["arch.json", "card.json", "card.md", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_input_raises_typed_errors_before_writing(tmp_path: Path, supernet_path: Path, digits: DataSplits) -> None:
    out = tmp_path / "out"
    with pytest.raises(UnknownNameError, match="valid formats: onnx, onnx-int8, pt2, pytorch, timm, torchscript"):
        export_subnet(supernet_path, "smallest", out, ["tflite"], digits)
    big = json.dumps(nas.get_space("ofa_mbv3").to_ofa_config(nas.get_space("ofa_mbv3").largest()))
    with pytest.raises(InvalidArchError, match="r=224"):
        export_subnet(supernet_path, big, out, ["pytorch"], digits, **FAST)
    with pytest.raises(ConfigError, match="space 'ofa_mbv3'"):
        export_subnet(supernet_path, nas.get_space("ofa_mbv3").smallest(), out, ["pytorch"], digits, **FAST)
    with pytest.raises(CheckpointError, match="not of --space 'ofa_mbv3'"):
        export_subnet(supernet_path, "smallest", out, ["pytorch"], digits, space="ofa_mbv3", **FAST)
    with pytest.raises(CheckpointError, match=r"arch\.json is missing"):
        load_subnet(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_front_export_writes_every_rank_and_an_index(
    tmp_path: Path, supernet_path: Path, digits: DataSplits, search_run: Path
) -> None:
    front = pd.read_csv(search_run / "front.csv")
    cards = export_front(supernet_path, search_run, tmp_path / "front", ["pytorch"], digits, **FAST)
    index = pd.read_csv(tmp_path / "front" / "index.csv")
    assert len(cards) == len(index) >= 1 and len(index) <= len(front)
    assert list(index["folder"]) == [f"rank-{rank}" for rank in index["rank"]] == [c["name"] for c in cards]
    assert (index["parity_max_abs_diff"] <= 1e-4).all()
    for card, row in zip(cards, index.to_dict("records")):
        assert (tmp_path / "front" / row["folder"] / "model.safetensors").is_file()
        search = card["search"]
        assert search["objectives"]["macs"] == card["macs"] == row["predicted_macs"] == row["macs"]
        assert search["rank"] == row["rank"] and int(front["trial"].iloc[row["rank"]]) == search["trial"]
        assert search["budgets"] == json.loads((search_run / "summary.json").read_text())["budgets"]


def test_run_rank_picks_a_front_row_and_checks_rank_and_space(
    tmp_path: Path, supernet_path: Path, digits: DataSplits, search_run: Path
) -> None:
    size = len(pd.read_csv(search_run / "front.csv"))
    with pytest.raises(ConfigError, match=f"rank {size} is beyond the front"):
        export_subnet(supernet_path, f"{search_run}:{size}", tmp_path / "x", ["pytorch"], digits, **FAST)
    other = tmp_path / "other-run"
    shutil.copytree(search_run, other)
    config = json.loads((other / "search_config.json").read_text())
    (other / "search_config.json").write_text(json.dumps({**config, "space": "ofa_mbv3"}))
    with pytest.raises(CheckpointError, match="searched space 'ofa_mbv3'"):
        export_subnet(supernet_path, f"{other}:0", tmp_path / "x", ["pytorch"], digits, **FAST)
    assert not (tmp_path / "x").exists()
    card = export_subnet(supernet_path, f"{search_run}:0", tmp_path / "x", ["pytorch"], digits, **FAST)
    assert card["search"]["rank"] == 0 and card["search"]["objectives"]["params"] == card["params"]
    assert "## Search" in (tmp_path / "x" / "card.md").read_text()


def test_front_rows_repeating_an_arch_are_exported_once(
    tmp_path: Path, supernet_path: Path, digits: DataSplits, search_run: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(search_run, run)
    front = pd.read_csv(run / "front.csv")
    pd.concat([front.head(1), front.head(1)]).to_csv(run / "front.csv", index=False)  # NSGA-II may repeat an arch
    cards = export_front(supernet_path, run, tmp_path / "out", ["pytorch"], digits, **FAST)
    assert [card["name"] for card in cards] == ["rank-0"]
    assert list(pd.read_csv(tmp_path / "out" / "index.csv")["folder"]) == ["rank-0"]


def test_finetune_trains_then_checks_against_the_tuned_subnet(
    tmp_path: Path, supernet_path: Path, digits: DataSplits
) -> None:
    card = export_subnet(
        supernet_path, "smallest", tmp_path / "tuned", ["pytorch"], digits, finetune_epochs=2, finetune_lr=0.05, **FAST
    )
    assert card["finetune"]["steps"] == 4 and np.isfinite(card["finetune"]["final_loss"])
    assert card["parity"]["reference"].startswith("fine-tuned") and card["parity"]["max_abs_diff"]["pytorch"] <= 1e-6
    # both accuracies are on the card (on an untrained supernet they may well be equal)
    assert 0 <= card["accuracy"]["before_finetune"]["accuracy"] <= 1 and 0 <= card["accuracy"]["accuracy"] <= 1
    tuned, untuned = load_subnet(tmp_path / "tuned"), nas.load_supernet(supernet_path).extract(card_arch(card))
    assert not torch.equal(tuned.classifier.weight, untuned.classifier.weight)


def card_arch(card: dict[str, Any]) -> nas.Arch:
    return nas.get_space(card["space"]).validate(card["arch"])


def test_cli_exports_and_exits_2_on_bad_input(
    tmp_path: Path,
    supernet_path: Path,
    search_run: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "cli"
    base = ["export", "--supernet", str(supernet_path), "--no-latency", "--calibration-images", "32"]
    assert main([*base, "--arch", "smallest", "--format", "pytorch", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["out"] == str(out) and report["parity_max_abs_diff"] <= 1e-4 and (out / "card.json").is_file()
    bad = [
        (["--arch", "smallest", "--format", "tflite", "--out", str(tmp_path / "a")], "valid formats"),
        (["--arch", "smallest", "--out", str(out)], "--overwrite"),
        (["--arch", '{"resolution": 224}', "--out", str(tmp_path / "b")], "resolution"),
        (["--arch", f"{search_run}:999", "--out", str(tmp_path / "c")], "beyond the front"),
        (["--arch", "smallest", "--space", "ofa_mbv3", "--out", str(tmp_path / "d")], "--space"),
    ]
    for extra, message in bad:
        assert main([*base, *extra]) == 2
        assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli"]
