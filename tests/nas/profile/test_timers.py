"""Timers: small and large work ordered, threads and priority restored, ONNX Runtime parity, typed refusals."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from torch import nn

from nas.profile.timers import CpuTimer, OnnxRuntimeTimer, create_timer, pinned_threads, raised_priority
from search_spaces import ConfigError


def test_cpu_timer_orders_small_and_large_work_and_restores_threads() -> None:
    before = torch.get_num_threads()
    timer = CpuTimer(warmup=3, min_repeats=9, min_seconds=0.0)
    small = timer.time(nn.Conv2d(4, 4, 1), (1, 4, 4, 4))  # ~256 MACs
    large = timer.time(nn.Conv2d(64, 64, 3, padding=1), (1, 64, 128, 128))  # ~600 M MACs, tens of ms
    assert 0 < small.median_ms < large.median_ms
    assert small.repeats >= 9 and small.iqr_ms >= 0
    assert torch.get_num_threads() == before
    assert timer.describe()["device"] == "cpu"


def test_onnxruntime_timer_runs_an_exported_module() -> None:
    timer = OnnxRuntimeTimer(warmup=1, min_repeats=3, min_seconds=0.0)
    module = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Hardswish()).eval()
    session = timer.inference_session(module, (1, 3, 16, 16))
    sample = torch.randn(1, 3, 16, 16)
    (output,) = session.run(None, {"input": sample.numpy()})
    with torch.no_grad():
        assert np.abs(output - module(sample).numpy()).max() < 1e-4
    assert timer.time(module, (1, 3, 16, 16)).median_ms > 0
    assert "ONNX Runtime" in timer.describe()["name"]


def test_bad_timer_settings_are_typed_errors() -> None:
    with pytest.raises(ConfigError, match="device"):
        create_timer("tpu")
    with pytest.raises(ConfigError, match="min_repeats"):
        CpuTimer(min_repeats=1)
    with pytest.raises(ConfigError, match="threads"), pinned_threads(0):
        pass
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            create_timer("cuda")


def test_measurements_run_at_raised_priority_where_permitted_and_restore_it() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int] = []
    with raised_priority() as reached:
        assert os.getpriority(os.PRIO_PROCESS, 0) == reached
        worker = threading.Thread(target=lambda: seen.append(os.getpriority(os.PRIO_PROCESS, 0)))
        worker.start()
        worker.join()
    assert seen == [reached]  # threads started inside (ONNX Runtime's pools) run at it too
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
    assert reached <= before and CpuTimer(min_seconds=0.0).describe()["nice"] == reached
