"""Latency tables for ONNX Runtime's int8 kernels: ``nas profile --device onnxruntime --int8``."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from torch import nn

from nas.cli import main
from nas.profile.timers import DEVICES, create_timer


def test_the_int8_timer_times_a_quantized_graph() -> None:
    timer = create_timer("onnxruntime-int8", 1, min_repeats=3, min_seconds=0.0, rounds=1)
    block = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 8, 1))
    graph = onnx.load_from_string(timer.onnx_model(block, (1, 8, 16, 16))).graph
    assert {"QuantizeLinear", "DequantizeLinear"} <= {node.op_type for node in graph.node}
    assert any(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer)
    assert timer.time(block, (1, 8, 16, 16)).median_ms > 0
    assert timer.describe()["device"] == "onnxruntime-int8" and "onnxruntime-int8" in DEVICES


def test_int8_is_refused_for_other_runtimes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.json"
    assert main(["profile", "--space", "ofa_mbv3_small", "--device", "cpu", "--int8", "--out", str(out)]) == 2
    assert "--int8 profiles ONNX Runtime's int8 kernels" in capsys.readouterr().err and not out.exists()
