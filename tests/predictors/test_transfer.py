"""Few-shot latency transfer: recovers a known device relation from 10 measurements, is deterministic, refuses bad
input with ConfigError naming the field, and transfers to held-out devices of HELP's OFA MobileNetV3 latencies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from predictors.metrics import spearman
from predictors.transfer import FewShotLatencyTransfer, leave_one_out_transfer, sample_measured
from search_spaces import ConfigError

# ---------------------------------------------------------------------------------------------------- synthetic


def synthetic(n: int = 500, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four source devices (N x 4 ms), two arch features, and a target that is a monotone function of a source mix."""
    rng = np.random.default_rng(seed)
    depth = rng.integers(10, 21, size=n).astype(float)
    log_macs = rng.uniform(np.log(1e8), np.log(6e8), size=n)
    launch, compute = depth / 20, np.exp(log_macs) / 6e8
    source = np.column_stack(
        [
            2.0 * launch + 0.2 * compute,  # launch-bound (batch 1)
            0.3 * launch + 3.0 * compute,  # compute-bound (large batch)
            0.5 + rng.uniform(0.0, 1.0, size=n),  # a memory-bound device (weights not in the features)
            rng.uniform(1.0, 2.0, size=n),  # a device unrelated to the others
        ]
    )
    target = np.exp(0.7 * np.log(source[:, 0]) + 0.4 * np.log(source[:, 1]))
    target = 1.5 * target + 0.5 * target**2  # monotone, not log-linear
    return source, np.column_stack([depth, log_macs]), target


def test_recovers_a_monotone_source_mix_from_ten_measurements() -> None:
    source, features, target = synthetic()
    measured = sample_measured(len(target), 10, seed=0)
    model = FewShotLatencyTransfer().fit(source, measured, target[measured], features)
    rest = np.setdiff1d(np.arange(len(target)), measured)
    predicted = model.predict()
    assert model.method_ == "ridge"
    assert spearman(target[rest], predicted[rest]) > 0.99
    # no single source ranks the target that well: the fit has to combine them
    assert max(spearman(target, source[:, j]) for j in range(4)) < 0.95
    np.testing.assert_allclose(predicted[measured], target[measured], rtol=0.05)


def test_predicts_new_archs_from_their_source_rows() -> None:
    source, features, target = synthetic()
    measured = sample_measured(len(target), 12, seed=1)
    model = FewShotLatencyTransfer().fit(source, measured, target[measured], features)
    rows = np.array([3, 77, 250, 499])
    np.testing.assert_allclose(model.predict(source[rows], features[rows]), model.predict()[rows], rtol=1e-12)
    with pytest.raises(ConfigError) as error:
        model.predict(source[rows])  # fitted with features, so new rows need them
    assert error.value.field == "features"


def test_falls_back_to_the_most_proportional_source_when_k_is_tiny() -> None:
    source, _, _ = synthetic()
    target = 2.5 * source[:, 2]
    measured = np.array([4, 40, 400])
    model = FewShotLatencyTransfer().fit(source, measured, target[measured])
    assert (model.method_, model.source_column_) == ("scale", 2)
    np.testing.assert_allclose(model.predict(), target, rtol=1e-9)


def test_same_inputs_give_the_same_output() -> None:
    source, features, target = synthetic()
    measured = sample_measured(len(target), 10, seed=3)
    first = FewShotLatencyTransfer().fit(source, measured, target[measured], features).predict()
    second = FewShotLatencyTransfer().fit(source.copy(), measured.copy(), target[measured], features).predict()
    assert np.array_equal(first, second)
    matrix = np.column_stack([source, target])
    columns = ["a", "b", "c", "d", "t"]
    assert leave_one_out_transfer(matrix, columns, 10, 2) == leave_one_out_transfer(matrix, columns, 10, 2)


def test_leave_one_out_rows_and_exclusion_groups() -> None:
    source, features, target = synthetic(n=200)
    matrix = np.column_stack([source, target])
    columns = ["gpu_1", "gpu_64", "memory", "other", "new"]
    rows = leave_one_out_transfer(matrix, columns, 10, 3, features=features, exclude_groups={"gpu_1": ["gpu_64"]})
    assert len(rows) == 5 * 3
    assert {"column", "k", "seed", "spearman", "kendall_tau", "mape"} <= set(rows[0])
    held_gpu_1 = [r for r in rows if r["column"] == "gpu_1"]
    assert all(r["sources"] == ["memory", "other", "new"] for r in held_gpu_1)
    new = [r for r in rows if r["column"] == "new"]
    assert min(r["spearman"] for r in new) > 0.98 and max(r["mape"] for r in new) < 0.1


# ---------------------------------------------------------------------------------------------------- bad input


def _fit(**overrides: Any) -> FewShotLatencyTransfer:
    source, features, target = synthetic(n=50)
    arguments: dict[str, Any] = {
        "source": source,
        "target_index": np.arange(10),
        "target_ms": target[:10],
        "features": features,
    }
    arguments.update(overrides)
    return FewShotLatencyTransfer().fit(**arguments)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"target_index": np.array([3]), "target_ms": np.array([1.0])}, "target_index"),
        ({"target_index": np.array([0, 1, 50]), "target_ms": np.ones(3)}, "target_index"),
        ({"target_index": np.array([0, -1, 2]), "target_ms": np.ones(3)}, "target_index"),
        ({"target_index": np.array([0, 1, 1]), "target_ms": np.ones(3)}, "target_index"),
        ({"target_index": np.array([0.0, 1.0, 2.0]), "target_ms": np.ones(3)}, "target_index"),
        ({"target_ms": np.ones(9)}, "target_ms"),
        ({"target_ms": np.r_[np.ones(9), 0.0]}, "target_ms"),
        ({"target_ms": np.r_[np.ones(9), np.nan]}, "target_ms"),
        ({"source": -np.ones((50, 4))}, "source"),
        ({"source": np.r_[np.full((1, 4), np.inf), np.ones((49, 4))]}, "source"),
        ({"source": np.ones(50)}, "source"),
        ({"features": np.ones((49, 2))}, "features"),
        ({"features": np.full((50, 2), np.nan)}, "features"),
    ],
)
def test_bad_fit_input_raises_config_error_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        _fit(**overrides)
    assert error.value.field == field
    assert field in str(error.value) or "latencies" in str(error.value)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"alphas": []}, "alphas"),
        ({"alphas": [1.0, -2.0]}, "alphas"),
        ({"alphas": [float("nan")]}, "alphas"),
        ({"min_ridge_k": 2}, "min_ridge_k"),
    ],
)
def test_bad_settings_raise_config_error(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        FewShotLatencyTransfer(**options)
    assert error.value.field == field


def test_predict_before_fit_and_wrong_source_width_raise() -> None:
    with pytest.raises(ConfigError):
        FewShotLatencyTransfer().predict()
    with pytest.raises(ConfigError) as error:
        _fit().predict(np.ones((3, 5)), np.ones((3, 2)))
    assert error.value.field == "source"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"columns": ["a", "b", "c"]}, "columns"),
        ({"columns": ["a", "a", "b", "c"]}, "columns"),
        ({"k": 1}, "k"),
        ({"k": 49}, "k"),
        ({"seeds": 0}, "seeds"),
        ({"exclude_groups": {"a": ["zz"]}}, "exclude_groups"),
        ({"exclude_groups": {"a": ["b", "c", "d"]}}, "exclude_groups"),
    ],
)
def test_bad_leave_one_out_input_raises(arguments: dict[str, Any], field: str) -> None:
    source, _, _ = synthetic(n=50)
    call: dict[str, Any] = {"matrix": source, "columns": ["a", "b", "c", "d"], "k": 10, "seeds": 1, **arguments}
    with pytest.raises(ConfigError) as error:
        leave_one_out_transfer(**call)
    assert error.value.field == field


# ---------------------------------------------------------------------------------------------------- HELP OFA data

_WIDTHS, _STRIDES, _SE, _HSWISH = (24, 40, 80, 112, 160), (2, 2, 2, 1, 2), (0, 1, 0, 1, 1), (0, 0, 1, 1, 1)


def _divisible(value: float) -> int:
    rounded = max(8, int(value + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * value else rounded


def ofa_macs(config: dict[str, Any]) -> int:
    """MACs of an OFA MobileNetV3 (width 1.0, 1000 classes) subnet at batch 1, from its layer shapes."""
    size = (config["r"] + 1) // 2
    total, channels = size * size * 16 * (3 * 9 + 9 + 16), 16  # stem conv, first depthwise + pointwise
    for stage, depth in enumerate(config["d"]):
        for block in range(depth):
            kernel, expand = config["ks"][4 * stage + block], config["e"][4 * stage + block]
            hidden, stride = _divisible(channels * expand), _STRIDES[stage] if block == 0 else 1
            out = (size - 1) // stride + 1
            total += size * size * channels * hidden + out * out * hidden * (kernel * kernel + _WIDTHS[stage])
            total += 2 * hidden * _divisible(hidden // 4) if _SE[stage] else 0
            size, channels = out, _WIDTHS[stage]
    return total + size * size * 160 * 960 + 960 * 1280 + 1280 * 1000


def ofa_launches(config: dict[str, Any]) -> int:
    """Rough count of eager-mode GPU kernels (conv, BN, activation, squeeze-excite, residual) of a subnet."""
    total = 0
    for stage, depth in enumerate(config["d"]):
        act = 4 if _HSWISH[stage] else 1  # h-swish is x * relu6(x + 3) / 6
        total += depth * (2 * (3 + act) + 2 + 9 * _SE[stage]) + (depth - 1)
    return total


def load_ofa(benchdata: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    path = benchdata / "derived" / "ofa_mbv3_latency_help.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    columns = list(rows[0]["latency_ms"])
    matrix = np.array([[row["latency_ms"][c] for c in columns] for row in rows])
    features = np.array([[np.log(ofa_macs(r)), ofa_launches(r), r["r"]] for r in rows], dtype=float)
    return matrix, columns, features


def test_ofa_macs_match_the_reference_counts(benchdata: Path) -> None:
    path = benchdata / "ofa_mbv3_w10_reference.jsonl"
    for line in path.read_text().splitlines():
        config = json.loads(line)
        assert ofa_macs(config) == config["macs"]


def test_ofa_leave_one_device_column_out_at_k10(benchdata: Path) -> None:
    """Mean Spearman over the 6 held-out columns, 10 measured archs, 10 seeds.

    The task asked for >= 0.95; this data cannot give it. Batch-1 columns are noisy: even a model fitted on 4,000
    measured archs of the target itself ranks 1,000 others at only ~0.77-0.84 (2080ti_1, titan_rtx_1) and ~0.87
    (2080ti_32), so the mean over columns tops out near 0.92; this model with K=1000 reaches 0.905. Measured here:
    0.870 (and 0.872 leaving out the whole GPU); the MACs ranking gets 0.71.
    """
    matrix, columns, features = load_ofa(benchdata)
    rows = leave_one_out_transfer(matrix, columns, k=10, seeds=10, features=features)
    mean = float(np.mean([r["spearman"] for r in rows]))
    baseline = float(np.mean([spearman(matrix[:, j], features[:, 0]) for j in range(len(columns))]))
    assert mean >= 0.86, mean
    assert mean > baseline + 0.1, (mean, baseline)
    by_column = {c: np.mean([r["spearman"] for r in rows if r["column"] == c]) for c in columns}
    assert by_column["2080ti_64"] > 0.95 and by_column["titan_rtx_64"] > 0.98, by_column

    gpu = {c: [o for o in columns if o.split("_")[0] == c.split("_")[0]] for c in columns}
    harder = leave_one_out_transfer(matrix, columns, k=10, seeds=10, features=features, exclude_groups=gpu)
    assert all(r["sources"] and all(s.split("_")[0] != r["column"].split("_")[0] for s in r["sources"]) for r in harder)
    assert float(np.mean([r["spearman"] for r in harder])) >= 0.86
