"""Importing once-for-all's published supernets: every published net a family registers, in every key style the
published files use, computes the logits the original once-for-all code computed (float64, <= 1e-9 relative),
through the supernet and through extraction; bad files name the offending key and write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import nas
from nas.supernet.importing import import_ofa, import_published
from nas.supernet.registry import list_published, published_net
from search_spaces import CheckpointError, UnknownNameError, get_space
from tests.ofa_files import golden_logits, ofa_specs, synthetic_inputs, write_synthetic_checkpoint

TOLERANCE = 1e-9
W10, W12 = "ofa_mbv3_d234_e346_k357_w1.0", "ofa_mbv3_d234_e346_k357_w1.2"


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


@pytest.mark.parametrize("net", list_published())
def test_every_spec_matches_the_original_logits_by_forward_and_by_extraction(net: str, tmp_path: Path) -> None:
    path = write_synthetic_checkpoint(net, tmp_path / "net.pth", legacy_keys=net.startswith("ofa_mbv3"))
    supernet = import_published(path, net).double().eval()
    space = supernet.space
    for index, (spec, want) in enumerate(zip(ofa_specs(net), golden_logits(net), strict=True)):
        arch = space.from_ofa_config(spec)
        images = synthetic_inputs(int(arch["resolution"]))
        with torch.no_grad():
            supernet.set_active(arch)
            by_forward = supernet(images)
            by_extraction = supernet.extract(arch).eval()(images)
        assert relative_error(by_forward, want) <= TOLERANCE, f"{net} spec {index} (forward)"
        assert relative_error(by_extraction, want) <= TOLERANCE, f"{net} spec {index} (extraction)"
        assert space.from_ofa_config(space.to_ofa_config(arch)) == arch


@pytest.mark.parametrize(
    "style", [{"legacy_keys": True}, {"bare": True}, {"prefix": "module."}, {"bare": True, "prefix": "module."}]
)
def test_every_published_key_style_loads_the_same_weights(style: dict[str, object], tmp_path: Path) -> None:
    reference = import_published(write_synthetic_checkpoint(W12, tmp_path / "plain.pth"), W12).state_dict()
    imported = import_published(write_synthetic_checkpoint(W12, tmp_path / "styled.pth", **style), W12)
    assert all(torch.equal(tensor, reference[key]) for key, tensor in imported.state_dict().items())


@pytest.mark.parametrize("net", list_published())
def test_both_key_styles_of_every_net_give_the_same_weights(net: str, tmp_path: Path) -> None:
    """The pre-2020 style the published files use loads exactly as today's does (the goldens above then hold for
    both)."""
    today = import_published(write_synthetic_checkpoint(net, tmp_path / "today.pth"), net).state_dict()
    legacy = import_published(write_synthetic_checkpoint(net, tmp_path / "old.pth", legacy_keys=True), net)
    assert legacy.state_dict().keys() == today.keys()
    assert all(torch.equal(tensor, today[key]) for key, tensor in legacy.state_dict().items())


def test_the_written_file_is_a_supernet_every_command_reads(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "w10.pt"
    import_ofa(write_synthetic_checkpoint(W10, tmp_path / "net.pth"), W10, out)
    loaded = nas.load_supernet(out)
    assert loaded.space.name == published_net(W10).space and loaded.num_classes == 1000
    original = import_published(tmp_path / "net.pth", W10)
    assert all(torch.equal(tensor, original.state_dict()[key]) for key, tensor in loaded.state_dict().items())


def test_a_file_of_another_net_names_the_key_both_shapes_and_the_net_it_is(tmp_path: Path) -> None:
    path = write_synthetic_checkpoint(W12, tmp_path / "w12.pth")
    out = tmp_path / "out.pt"
    with pytest.raises(CheckpointError) as error:
        import_ofa(path, W10, out)
    message = str(error.value)
    assert "first_conv.conv.weight" in message and "[24, 3, 3, 3]" in message and "[16, 3, 3, 3]" in message
    assert f"--net {W12}" in message
    assert not out.exists()


def test_a_missing_or_extra_key_is_named_and_an_existing_output_is_kept(tmp_path: Path) -> None:
    state = torch.load(write_synthetic_checkpoint(W10, tmp_path / "net.pth"), weights_only=True)["state_dict"]
    out = tmp_path / "out.pt"
    out.write_bytes(b"kept")
    missing = dict(state)
    del missing["blocks.7.conv.depth_conv.conv.7to5_matrix"]
    torch.save({"state_dict": missing}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"key blocks\.7\.conv\.depth_conv\.conv\.7to5_matrix \(shape \[25, 25\]"):
        import_ofa(tmp_path / "missing.pth", W10, out)
    torch.save({"state_dict": {**state, "blocks.0.conv.extra": torch.zeros(3)}}, tmp_path / "extra.pth")
    with pytest.raises(CheckpointError, match=r"has key blocks\.0\.conv\.extra \(shape \[3\]\)"):
        import_ofa(tmp_path / "extra.pth", W10, out)
    assert out.read_bytes() == b"kept"


def test_unknown_nets_and_files_that_are_not_checkpoints_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match=W10):
        import_published(tmp_path / "whatever.pth", "ofa_mbv3_w1.0")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"text\.pth"):
        import_published(tmp_path / "text.pth", W10)
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match=r"not a tensor|no state dict"):
        import_published(tmp_path / "empty.pth", W10)


def test_every_published_net_belongs_to_a_registered_space() -> None:
    for net in list_published():
        assert nas.family_of(get_space(published_net(net).space)) is not None


def test_nas_import_ofa_writes_the_supernet_and_reports_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    path = write_synthetic_checkpoint(W10, tmp_path / "ofa_mbv3_d234_e346_k357_w1.0", legacy_keys=True)
    out = tmp_path / "w10.pt"
    assert main(["import", "ofa", str(path), "--net", W10, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["space"] == "ofa_mbv3" and report["supernet_file"] == str(out)
    assert report["largest"]["params"] == nas.load_supernet(out).params(get_space("ofa_mbv3").largest())
    assert main(["import", "ofa", str(path), "--net", W12, "--out", str(tmp_path / "w12.pt")]) == 2
    assert f"use --net {W10}" in capsys.readouterr().err and not (tmp_path / "w12.pt").exists()
