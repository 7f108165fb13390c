"""Spiking networks: neurons, the spiking space and supernet, exact all-T evaluation, the cost model, conversion,
and spiking objectives in `nas search`."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nas
from nas.cli import main
from nas.data import DataSplits, load_dataset
from nas.layers.convertible import ConversionError, check_conversion_friendly
from nas.layers.encoding import encode
from nas.layers.neurons import QCFS, LIFNeuron
from nas.search.config import EvaluationConfig, ExecutionConfig
from nas.search.driver import SearchConfig, run_search
from nas.search.objectives import parse_budget
from nas.spiking.conversion import convert_to_snn
from nas.spiking.energy import ann_comparison, record_spikes, training_activation_bytes
from nas.spiking.evaluation import evaluate_timesteps
from nas.supernet.families.spiking.costs import EnergyCosts, membrane_bytes
from nas.supernet.families.spiking.network import SpikingResNet, forward_all_steps
from nas.supernet.families.spiking.shapes import in_bounds_taps, layer_shapes
from nas.training.config import PhaseConfig, TrainConfig
from nas.training.evaluation import calibrate_bn, evaluate, resize
from nas.training.trainer import Trainer
from search_spaces import ConfigError, InvalidArchError, get_space
from tests.nas.cli.test_cli import run_nas


@pytest.fixture(scope="module")
def digits16() -> DataSplits:
    return load_dataset("digits", resolution=16)


@pytest.fixture(scope="module")
def spiking_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained spiking supernet (default initialisation: its neurons fire), saved like a trained one."""
    torch.manual_seed(0)
    supernet = nas.create_supernet("spiking_resnet", num_classes=10)
    return supernet.save(str(tmp_path_factory.mktemp("spiking") / "supernet.pt"))


# ---------------------------------------------------------------------- neurons
def test_lif_hard_reset_fires_when_the_leaky_sum_crosses_the_threshold() -> None:
    neuron = LIFNeuron(tau=2.0, threshold=1.0, reset="hard")
    # v1 = 0.6; v2 = 0.3 + 0.6 = 0.9; v3 = 0.45 + 0.6 = 1.05 -> spike, reset to 0; v4 = 0.6; ...
    spikes = neuron(torch.full((6, 1), 0.6)).flatten().tolist()
    assert spikes == [0, 0, 1, 0, 0, 1]


def test_if_soft_reset_with_half_threshold_start_matches_qcfs_counts() -> None:
    """The QCFS equivalence: L steps of a constant input x give clamp(floor(x L / theta + 1/2), 0, L) spikes."""
    levels, theta = 8, 1.5
    inputs = torch.linspace(-0.5, 2.0, 101)
    neuron = LIFNeuron(tau=None, threshold=theta, reset="soft", initial_fraction=0.5)
    counts = neuron(inputs.expand(levels, -1)).sum(0)
    qcfs = QCFS(levels, theta)
    with torch.no_grad():
        assert torch.equal(counts * theta / levels, qcfs(inputs))


def test_surrogate_gradient_flows_and_plif_learns_its_leak() -> None:
    neuron = LIFNeuron(tau=2.0, parametric=True)
    x = torch.randn(4, 8, requires_grad=True)
    neuron(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert neuron.leak_offset is not None and neuron.leak_offset.grad is not None
    assert float(neuron.leak().detach()) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"tau": 0.5}, "tau"),
        ({"threshold": 0.0}, "threshold"),
        ({"reset": "zero"}, "reset"),
        ({"surrogate": "x"}, "surrogate"),
    ],
)
def test_bad_neuron_settings_name_the_field(options: dict, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        LIFNeuron(**options)
    assert error.value.field == field


def test_direct_and_rate_encoding() -> None:
    images = torch.rand(4, 3, 8, 8)
    direct = encode(images, 3)
    assert direct.shape == (3, 4, 3, 8, 8) and torch.equal(direct[2], images)
    rate = encode(images, 400, "rate", torch.Generator().manual_seed(0))
    assert set(rate.unique().tolist()) <= {0.0, 1.0}
    flat = images.flatten(1)
    intensity = (images - flat.amin(1).view(-1, 1, 1, 1)) / (flat.amax(1) - flat.amin(1)).view(-1, 1, 1, 1)
    assert (rate.mean(0) - intensity).abs().mean() < 0.03
    with pytest.raises(ConfigError, match="encoding"):
        encode(images, 2, "latency")
    with pytest.raises(ConfigError, match="timesteps"):
        encode(images, 0)


# ---------------------------------------------------------------------- space and supernet
def test_space_has_neuron_choices_and_rejects_values_outside_it() -> None:
    space = get_space("spiking_resnet")
    assert {"timesteps", "threshold", "tau"} <= set(space.labels())
    assert "timesteps" not in get_space("qcfs_resnet").labels()
    arch = space.largest()
    with pytest.raises(InvalidArchError, match="timesteps=3 not in"):
        space.with_timesteps(arch, 3)
    with pytest.raises(InvalidArchError, match="threshold"):
        space.validate({**arch.to_dict(), "threshold": 2.5})
    assert space.with_timesteps(arch, 2)["timesteps"] == 2


def test_extraction_computes_what_the_supernet_computes() -> None:
    torch.manual_seed(2)
    supernet = nas.create_supernet("spiking_resnet", num_classes=10).eval()
    images = torch.randn(4, 3, 16, 16)
    for seed in range(3):
        arch = supernet.space.sample(random.Random(seed))
        x = resize(images, int(arch["resolution"]))
        supernet.set_active(arch)
        calibrate_bn(supernet, x)  # statistics of this input: the untrained neurons fire
        expected = supernet(x)
        subnet = supernet.extract(arch).eval()
        assert expected.shape == (int(arch["timesteps"]), 4, 10)
        assert torch.allclose(subnet(x), expected, atol=1e-5)
        assert not torch.allclose(subnet(x), subnet(-x))  # the neurons fire: the outputs depend on the input
        assert sum(p.numel() for p in subnet.parameters()) < sum(p.numel() for p in supernet.parameters())


def test_one_pass_at_the_largest_t_equals_separate_runs_at_each_t(digits16: DataSplits, spiking_file: Path) -> None:
    supernet = nas.load_supernet(spiking_file).eval()
    arch = supernet.space.sample(random.Random(5))
    results, counts = evaluate_timesteps(supernet, arch, digits16, "val", calibration_images=128)
    assert counts is not None
    for steps in supernet.space.timesteps:
        separate = evaluate(supernet, supernet.space.with_timesteps(arch, steps), digits16, "val", 128)
        assert results[steps].accuracy == pytest.approx(separate.accuracy, abs=1e-9)
        assert results[steps].loss == pytest.approx(separate.loss, rel=1e-4)


def test_trainer_trains_a_spiking_supernet_with_tet_loss_and_it_round_trips(tmp_path: Path) -> None:
    config = TrainConfig(
        supernet="spiking_resnet", phases=[PhaseConfig(epochs=1, random_subnets=1)], batch_size=16, threads=1
    )
    config.data.resolution = 16
    config.data.limit_train = 64
    trainer = Trainer.start(config, "spiking", root=tmp_path, progress=False)
    summary = trainer.fit()
    assert math.isfinite(summary.final_loss) and summary.steps == 4
    loaded = nas.load_supernet(summary.supernet_path)
    assert isinstance(loaded, SpikingResNet) and loaded.neuron_kind == "lif"
    plif = nas.create_supernet("spiking_resnet", num_classes=10, neuron="plif")
    plif.save(str(tmp_path / "plif.pt"))
    assert nas.load_supernet(tmp_path / "plif.pt").neuron_kind == "plif"


# ---------------------------------------------------------------------- cost model
def _brute_force_synops(spikes: torch.Tensor, out_channels: int, kernel: int, stride: int) -> int:
    """Count (spike, synapse) pairs one spike at a time: which outputs does each input position reach?"""
    _, height, width = spikes.shape
    out_h, out_w = (height - 1) // stride + 1, (width - 1) // stride + 1
    pad, total = kernel // 2, 0
    for _, i, j in spikes.nonzero().tolist():
        reached = sum(
            1
            for p in range(out_h)
            for q in range(out_w)
            if abs(i - (p * stride)) <= pad and abs(j - (q * stride)) <= pad
        )
        total += reached * out_channels
    return total


def test_exact_synops_count_every_spike_and_its_reachable_outputs() -> None:
    supernet = nas.create_supernet("spiking_resnet", num_classes=10).eval()
    arch = supernet.space.smallest()
    subnet = supernet.extract(arch).eval()
    x = torch.randn(2, 3, 12, 12)
    captured: list[torch.Tensor] = []
    conv = subnet.stages[1][0].first.conv  # a strided conv fed by spikes
    handle = conv.register_forward_hook(lambda _, args, __: captured.append(args[0]))
    with torch.no_grad(), record_spikes(subnet) as counts:
        subnet(x)
    handle.remove()
    index = counts.names.index("s2.b1.conv1")
    spikes = captured[0]
    expected = sum(
        _brute_force_synops(spikes[t, b], conv.active_out, conv.active_kernel, conv.stride)
        for t in range(spikes.shape[0])
        for b in range(spikes.shape[1])
    )
    assert float(counts.exact[index].sum()) == expected
    assert counts.binary == [False] + [True] * (len(counts.names) - 1)  # direct encoding: the stem does MACs


@pytest.mark.parametrize(("size", "kernel", "stride"), [(4, 5, 1), (8, 3, 2), (7, 5, 2), (12, 1, 2), (16, 3, 1)])
def test_in_bounds_taps_counts_the_kernel_taps_inside_the_map(size: int, kernel: int, stride: int) -> None:
    ones = torch.ones(1, 1, size, size)
    reached = F.conv2d(ones, torch.ones(1, 1, kernel, kernel), None, stride, kernel // 2).sum()
    assert in_bounds_taps(size, kernel, stride) ** 2 == int(reached)


def test_rate_model_uses_the_synapses_of_each_layer(digits16: DataSplits) -> None:
    supernet = nas.create_supernet("spiking_resnet", num_classes=10)
    arch = supernet.space.sample(random.Random(1))
    subnet = supernet.extract(arch).train()  # batch statistics: the untrained neurons fire
    with torch.no_grad(), record_spikes(subnet) as counts:
        subnet(resize(digits16.val.images[:32], int(arch["resolution"])))
    shapes = layer_shapes(supernet.space, arch, 10)
    assert [s.name for s in shapes] == counts.names
    assert [s.macs for s in shapes] == counts.macs
    assert all(synapses <= macs for synapses, macs in zip(counts.synapses, counts.macs))
    steps = subnet.timesteps
    expected = sum(
        float(n.sum()) / (counts.images * i * steps) * synapses * steps
        for b, synapses, i, n in zip(counts.binary, counts.synapses, counts.inputs, counts.nonzero)
        if b
    )
    assert counts.synops(steps) == pytest.approx(expected, rel=1e-6)
    energy = counts.mac_ops(steps) * 4.6 + counts.synops(steps) * 0.9
    assert counts.energy_pj(steps) == pytest.approx(energy)
    assert counts.energy_pj(steps, EnergyCosts(ac_pj=0.09)) < counts.energy_pj(steps)


def test_ann_comparison_says_when_the_snn_does_not_pay() -> None:
    supernet = nas.create_supernet("spiking_resnet", num_classes=10).eval()
    arch = supernet.space.largest()
    subnet = supernet.extract(arch).eval()
    with torch.no_grad(), record_spikes(subnet) as counts:
        subnet(torch.randn(4, 3, 16, 16))
    expensive = ann_comparison(supernet.space, arch, 10, counts, 6, EnergyCosts(ac_pj=50.0))
    assert not expensive["snn_cheaper_than_int8"] and "NOT cheaper" in expensive["verdict"]
    cheap = ann_comparison(supernet.space, arch, 10, counts, 6, EnergyCosts(ac_pj=1e-6, mac_pj=1e-6))
    assert cheap["snn_cheaper_than_int8"]
    assert expensive["snn_activation_bits"] == 6 and expensive["int8_activation_bits"] == 8
    with pytest.raises(ConfigError, match="ac_pj"):
        EnergyCosts(ac_pj=-1)


def test_memory_membrane_constant_in_t_and_training_memory_grows_with_t() -> None:
    space = get_space("spiking_resnet")
    arch = space.largest()
    assert membrane_bytes(space, arch, 10) == membrane_bytes(space, space.with_timesteps(arch, 1), 10)
    subnet = nas.create_supernet("spiking_resnet", num_classes=10).extract(arch)
    images = torch.randn(2, 3, 16, 16)
    sizes = [training_activation_bytes(subnet, images, t) for t in (1, 2, 4)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[2] / sizes[0] == pytest.approx(4, rel=0.25)


# ---------------------------------------------------------------------- conversion
def test_conversion_check_names_the_unfriendly_layer_and_why() -> None:
    mbv3 = nas.create_supernet("ofa_mbv3_small", num_classes=10)
    with pytest.raises(ConversionError, match=r"'stem.act' \(Hardswish\).*h-swish") as error:
        check_conversion_friendly(mbv3.extract(mbv3.space.smallest()))
    assert error.value.layer == "stem.act"
    with pytest.raises(ConversionError, match=r"MaxPool2d.*average pooling"):
        check_conversion_friendly(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2)))
    qcfs = nas.create_supernet("qcfs_resnet", num_classes=10)
    check_conversion_friendly(qcfs.extract(qcfs.space.sample(random.Random(0))))
    spiking = nas.create_supernet("spiking_resnet", num_classes=10)
    with pytest.raises(ConversionError, match="already spikes"):
        check_conversion_friendly(spiking.extract(spiking.space.smallest()))


def test_converted_snn_approaches_its_qcfs_ann_as_t_grows(digits16: DataSplits) -> None:
    torch.manual_seed(0)
    supernet = nas.create_supernet("qcfs_resnet", num_classes=10)
    arch = supernet.space.smallest()
    ann = supernet.extract(arch)
    images = resize(digits16.train.images[:64], int(arch["resolution"]))
    calibrate_bn(ann, images)
    ann.eval()
    with torch.no_grad():
        reference = ann(images)
        snn = convert_to_snn(ann, images, "learned")
        scores = forward_all_steps(snn, images)  # cumulative means per T
    errors = [float((scores[t - 1] - reference).norm() / reference.norm()) for t in (2, 8, 32)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.2
    balanced = convert_to_snn(ann, images, "percentile", 99.0)
    assert [n.threshold for n in balanced.neurons()] != [n.threshold for n in snn.neurons()]
    with pytest.raises(ConfigError, match="calibration"):
        convert_to_snn(ann, None, "percentile")
    with pytest.raises(ConfigError, match="thresholds"):
        convert_to_snn(ann, images, "max")


# ---------------------------------------------------------------------- search
def test_firing_rate_range_is_two_budgets() -> None:
    low, high = parse_budget("firing_rate>=0.05"), parse_budget("firing_rate<=0.3")
    assert low.violation(0.01) > 0 and low.violation(0.1) <= 0
    assert high.violation(0.5) > 0 and high.violation(0.1) <= 0
    assert parse_budget("timesteps=4").violation(6) > 0
    with pytest.raises(ConfigError, match="METRIC=VALUE"):
        parse_budget("firing_rate~0.3")


def test_spiking_search_measures_energy_and_skips_archs_over_the_t_budget(spiking_file: Path, tmp_path: Path) -> None:
    config = SearchConfig(
        objectives=["accuracy", "energy"],
        budgets=["timesteps=2", "firing_rate<=0.9"],
        sampler="random",
        trials=6,
        supernet=str(spiking_file),
        evaluation=EvaluationConfig(resolution=16, calibration_images=64),
        execution=ExecutionConfig(batch=3, ray=False),
    )
    result = run_search(config, "spiking", tmp_path, progress=False)
    trials = pd.read_csv(result.run_dir / "trials.csv")
    assert len(trials) == 6
    for trial in trials.to_dict("records"):
        if trial["evaluated"]:
            assert trial["timesteps"] <= 2 and trial["energy"] > 0 and 0 <= trial["firing_rate"] <= 1
            assert trial["int8_ann_energy"] > 0 and trial["membrane_memory"] > 0
        else:
            assert trial["timesteps"] > 2
    assert result.reference[1] > 0


def test_search_refuses_spiking_metrics_on_the_wrong_space(spiking_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a spiking supernet"):
        run_search(SearchConfig(objectives=["macs", "energy"], space="ofa_mbv3_small"), "x", tmp_path, progress=False)
    with pytest.raises(ConfigError, match="not modelled"):
        run_search(
            SearchConfig(objectives=["macs", "peak_memory"], space="spiking_resnet"), "y", tmp_path, progress=False
        )
    with pytest.raises(ConversionError, match="Hardswish"):
        run_search(
            SearchConfig(objectives=["macs", "params"], space="ofa_mbv3_small", spiking_friendly=True, trials=2),
            "z",
            tmp_path,
            progress=False,
        )
    friendly = SearchConfig(objectives=["macs", "params"], space="qcfs_resnet", spiking_friendly=True, trials=4)
    assert run_search(friendly, "ok", tmp_path, progress=False).trials == 4


def test_converted_accuracy_objective_on_a_qcfs_supernet(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = nas.create_supernet("qcfs_resnet", num_classes=10).save(str(tmp_path / "qcfs.pt"))
    config = SearchConfig(
        objectives=["converted_accuracy", "macs"],
        sampler="random",
        trials=2,
        supernet=str(path),
        evaluation=EvaluationConfig(resolution=16, calibration_images=64, convert_timesteps=4),
        execution=ExecutionConfig(batch=2, ray=False),
    )
    result = run_search(config, "convert", tmp_path, progress=False)
    trials = pd.read_csv(result.run_dir / "trials.csv")
    assert len(trials) == 2 and trials["converted_accuracy"].between(0, 1).all()


def test_cli_report_and_check(spiking_file: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["spiking", "report", "--supernet", str(spiking_file), "--arch", "smallest", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["timesteps"] for row in report["per_timesteps"]] == [1, 2, 4, 6, 8]
    assert report["verdict"] and report["membrane_bytes"] > 0
    mbv3 = nas.create_supernet("ofa_mbv3_small", num_classes=10).save(str(tmp_path / "mbv3.pt"))
    assert main(["spiking", "check", "--supernet", str(mbv3)]) == 2
    assert "stem.act" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"encoding": "latency"}, "encoding"),
        ({"surrogate": "relu"}, "surrogate"),
        ({"qcfs_levels": 0}, "qcfs_levels"),
        ({"neuron": "qcfs"}, "neuron"),
        ({"neuron": "izhikevich"}, "neuron"),
    ],
)
def test_bad_supernet_options_are_typed_errors(options: dict, field: str) -> None:
    with pytest.raises(ConfigError) as error:
        nas.create_supernet("spiking_resnet", num_classes=10, **options)
    assert error.value.field == field


@pytest.mark.slow
def test_spiking_quickstart_end_to_end(tmp_path: Path) -> None:
    done = run_nas(
        "quickstart",
        "--spiking",
        "--epochs",
        "1",
        "--limit-train",
        "64",
        "--search-trials",
        "6",
        "--no-ray",
        "--name",
        "sq",
        "--json",
        "--quiet",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["trials"] == 6 and report["front"]
    for row in report["front"]:
        assert row["timesteps"] <= 4 and 0 <= row["test_accuracy"] <= 1
        assert abs(row["energy_error"]) < 0.5 and row["int8_ann_energy_pj"] > 0 and row["verdict"]
    timing = report["all_timesteps_one_pass"]
    assert timing["max_accuracy_difference"] == 0 and timing["speedup"] > 1
    assert (tmp_path / report["run_dir"] / "spiking_report.json").is_file()
    assert (tmp_path / report["plot"]).is_file()
