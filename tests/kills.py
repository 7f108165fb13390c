"""Killing a training run mid-epoch for resume tests: wait for its checkpoint to pass a step, then SIGKILL it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from nas.core.files import load_torch_file


def kill_mid_epoch(run: subprocess.Popen, checkpoint: Path, min_step: int, timeout: float = 240) -> dict[str, Any]:
    """SIGKILL ``run`` once ``checkpoint`` records at least ``min_step`` steps and a position inside an epoch;
    returns that position. Fails the test when the run ends first or was not killed by the signal."""
    killed_at = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and run.poll() is None:
        if checkpoint.is_file():
            position = load_torch_file(checkpoint)["position"]
            if position["global_step"] >= min_step and position["step_in_epoch"] > 0:
                run.send_signal(signal.SIGKILL)
                killed_at = position
                break
        time.sleep(0.05)
    run.wait()
    assert killed_at is not None, "the run finished before it could be killed; make the config longer"
    assert run.returncode == -signal.SIGKILL
    return killed_at
