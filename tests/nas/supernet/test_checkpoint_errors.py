"""Missing, corrupt, unsafe and mismatched supernet files give a CheckpointError, never a deep traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import nas
from nas.core.files import save_torch_file


@pytest.fixture
def small_supernet() -> torch.nn.Module:
    return nas.create_supernet("ofa_mbv3_small", num_classes=10)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(nas.CheckpointError, match="does not exist"):
        nas.load_supernet(tmp_path / "nope.pt")


def test_truncated_file(small_supernet: torch.nn.Module, tmp_path: Path) -> None:
    path = small_supernet.save(tmp_path / "s.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(nas.CheckpointError, match="corrupt"):
        nas.load_supernet(path)


def test_pickled_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "nas-supernet", "payload": os.system}, path)
    with pytest.raises(nas.CheckpointError, match="pickled Python objects"):
        nas.load_supernet(path)


def test_wrong_format_version_and_name(small_supernet: torch.nn.Module, tmp_path: Path) -> None:
    payload = small_supernet.payload()
    save_torch_file(tmp_path / "v.pt", {**payload, "format_version": 99})
    with pytest.raises(nas.CheckpointError, match="format_version=99"):
        nas.load_supernet(tmp_path / "v.pt")
    save_torch_file(tmp_path / "n.pt", {**payload, "supernet": "vit_giant"})
    with pytest.raises(nas.CheckpointError, match="vit_giant"):
        nas.load_supernet(tmp_path / "n.pt")
    save_torch_file(tmp_path / "f.pt", {"weights": torch.zeros(2)})
    with pytest.raises(nas.CheckpointError, match="not a supernet file"):
        nas.load_supernet(tmp_path / "f.pt")


def test_weights_of_another_shape(small_supernet: torch.nn.Module, tmp_path: Path) -> None:
    payload = small_supernet.payload()
    save_torch_file(tmp_path / "c.pt", {**payload, "num_classes": 100})
    with pytest.raises(nas.CheckpointError, match="does not match"):
        nas.load_supernet(tmp_path / "c.pt")


def test_failed_save_keeps_the_previous_file(
    small_supernet: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_supernet.save(tmp_path / "keep.pt")
    original = path.read_bytes()

    def refuse(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(nas.NasError, match="No space left on device"):
        small_supernet.save(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["keep.pt"]  # no temporary file left behind
