"""The command line: help texts, --json contract, exit code 2 with a one-line message on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import build_parser, main
from tests.conftest import REPO_ROOT

SUBCOMMANDS = [
    "quickstart",
    "train",
    "eval",
    "spaces",
    "arch",
    "predictor",
    "profile",
    "devices",
    "latency",
    "search",
    "report",
]


def run_nas(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "nas", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def test_help_for_the_tool_and_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in SUBCOMMANDS)
    for name in SUBCOMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0
        assert "--json" in capsys.readouterr().out


def test_help_shows_real_defaults_only(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["profile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: cpu)" in text and "(default: 0)" in text  # a default of 0 is still a default
    assert "(default: None)" not in text and "(default: False)" not in text
    out_help = text[text.index("--out OUT table file") : text.index("--overwrite replace")]
    assert out_help.count("default") == 1  # its help names the default: argparse must not add "(default: None)"


def test_spaces_json_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = {row["space"] for row in report["spaces"]}
    assert {"ofa_mbv3", "ofa_mbv3_small"} <= names


def test_arch_show_reports_ofa_config_and_reference_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arch", "show", "largest", "--space", "ofa_mbv3", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["archs"][0]
    assert row["ofa_config"] == {"wid": None, "ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": [224]}
    assert (row["params"], row["macs"]) == (7664760, 566170656)  # once-for-all's own figures


def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cases = [
        (
            ["arch", "sample", "--space", "mobilenet_v9"],
            "valid search spaces: autoformer_t, autoformer_t_small, nb201, ofa_mbv3,",
        ),
        (["arch", "show", '{"ks": [3], "e": [3], "d": [2], "r": 128}'], "ks has 1 entries, expected 20"),
        (["arch", "show", "not-a-file.json"], "neither 'smallest', 'largest'"),
        (["train", "--data", "mnist", "--name", "x"], "valid data sets: cifar10, digits, imagefolder"),
        (["train", "--supernet", "vgg", "--name", "x"], "valid supernets: autoformer_t, autoformer_t_small, ofa_mbv3,"),
        (["train", "--config", str(tmp_path / "none.yaml")], "does not exist"),
        (["eval", "--supernet", str(tmp_path / "none.pt"), "--arch", "largest"], "does not exist"),
    ]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for argv, fragment in cases:
            assert main(argv) == 2, argv
            err = capsys.readouterr().err
            assert fragment in err, (argv, err)
            assert err.startswith("error: ") and "Traceback" not in err
            assert not (tmp_path / "runs").exists(), f"{argv} left a run folder behind"
    finally:
        os.chdir(cwd)


def test_unknown_config_key_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("optim:\n  learning_rate: 0.1\n")
    assert main(["train", "--config", str(config), "--name", "x"]) == 2
    assert "unknown config key 'optim.learning_rate'" in capsys.readouterr().err


def test_parser_lists_every_subcommand() -> None:
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert set(SUBCOMMANDS) <= set(choices)


@pytest.mark.slow
def test_quickstart_and_eval_end_to_end_json(tmp_path: Path) -> None:
    done = run_nas(
        "quickstart",
        "--epochs",
        "1",
        "--subnets",
        "2",
        "--limit-train",
        "128",
        "--search-trials",
        "4",
        "--no-ray",
        "--name",
        "qs",
        "--json",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # exactly one JSON object on stdout
    assert [row["subnet"] for row in report["subnets"]] == ["largest", "smallest", "random_1", "random_2"]
    assert all(0.0 <= row["test_accuracy"] <= 1.0 for row in report["subnets"])
    supernet = Path(tmp_path / report["supernet"])
    assert supernet.is_file()
    search = report["search"]  # the quickstart ends with a budgeted search and measured picks
    assert search["trials"] == 4 and Path(tmp_path / search["latency_table"]).is_file()
    validation = search["latency_validation"]  # the table was validated against the noise floor before the search
    assert validation["subnets"] == 20 and validation["floor_mape"] >= 0 and validation["at_table_speed"]
    assert (search["latency_warning"] is None) == validation["meets_targets"]  # a table missing them is flagged
    for pick in search["picks"]:
        assert pick["measured_latency_ms"] > 0 and pick["as_measured_latency_ms"] > 0
        assert 0.0 <= pick["test_accuracy"] <= 1.0
        assert pick["predicted_latency_ms"] <= search["budgets"]["latency_ms"]
    assert [e["name"] for e in search["exports"]] == [f"pick-{i}" for i in range(len(search["picks"]))]
    for export in search["exports"]:  # each pick exported, parity-checked, with its card
        folder = tmp_path / export["folder"]
        assert {"model.safetensors", "model.onnx", "card.json", "card.md"} <= {p.name for p in folder.iterdir()}

    calibration = ["--calibration-images", "512", "--calibration-batch", "256"]  # the quickstart's, not eval's default
    evaluated = run_nas(
        "eval", "--supernet", str(supernet), "--arch", "smallest", "largest", *calibration, "--json", cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    results = json.loads(evaluated.stdout)["results"]
    by_name = {row["subnet"]: row for row in report["subnets"]}
    # the quickstart's test accuracy of the smallest subnet is what eval reports (same calibration, cache hit)
    assert results[0]["accuracy"] == pytest.approx(by_name["smallest"]["test_accuracy"])
    assert (supernet.parent / "eval_cache.jsonl").is_file()


def test_eval_refuses_a_supernet_for_another_class_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    import nas

    for label in ("cat", "dog"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for index in range(4):
            Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(tmp_path / "images" / label / f"{index}.png")
    nas.create_supernet("ofa_mbv3_small", num_classes=10).save(tmp_path / "s.pt")
    argv = [
        "eval",
        "--supernet",
        str(tmp_path / "s.pt"),
        "--arch",
        "smallest",
        "--data",
        "imagefolder",
        "--data-root",
        str(tmp_path / "images"),
    ]
    assert main(argv) == 2
    assert "has 10 classes but data set 'imagefolder' has 2" in capsys.readouterr().err


def test_train_lays_config_and_flags_over_the_family_training_defaults(tmp_path: Path) -> None:
    from nas.cli.training import train_config

    parser = build_parser()
    vit = train_config(parser.parse_args(["train", "--supernet", "autoformer_t_small"]))
    assert (vit.optim.optimizer, vit.optim.weight_decay) == ("adamw", 0.05)  # the family's defaults
    config = tmp_path / "sgd.yaml"
    config.write_text("optim:\n  optimizer: sgd\n  momentum: 0.8\n")
    chosen = train_config(parser.parse_args(["train", "--supernet", "autoformer_t_small", "--config", str(config)]))
    assert (chosen.optim.optimizer, chosen.optim.momentum, chosen.optim.weight_decay) == ("sgd", 0.8, 0.05)
    flagged = train_config(parser.parse_args(["train", "--supernet", "autoformer_t_small", "--lr", "0.3"]))
    assert (flagged.optim.optimizer, flagged.optim.lr) == ("adamw", 0.3)
    cnn = train_config(parser.parse_args(["train", "--supernet", "ofa_mbv3_small"]))
    assert cnn.optim.optimizer == "sgd"  # families without defaults keep TrainConfig's
