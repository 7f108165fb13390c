"""Shared pieces of the reliability tests: running the ``nas`` CLI as a real process, checking that an error is one
of the platform's own with a message that says what is wrong, tiny training configs, and real OS conditions (a
full or read-only file system) made inside a private mount namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from search_spaces import NasError
from tests.conftest import REPO_ROOT

MAX_MESSAGE = 600  # an error message stays readable even for a hostile input (a megabyte string, a huge number)


def cli_env() -> dict[str, str]:
    """The environment of a ``nas`` subprocess: this source tree importable, one thread per library."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def nas_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas", *args]


def run_nas(args: Sequence[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``python -m nas ARGS`` to completion."""
    return subprocess.run(
        nas_command(*args), cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def start_nas(args: Sequence[str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m nas ARGS`` without waiting (to kill it)."""
    return subprocess.Popen(
        nas_command(*args), cwd=cwd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def check_error(error: BaseException, kind: type[NasError], *fragments: str) -> None:
    """``error`` is a ``kind`` (so a NasError) whose one-line-ish message holds every fragment and stays short."""
    assert isinstance(error, NasError), f"{type(error).__name__} escaped: {error}"
    assert isinstance(error, kind), f"expected {kind.__name__}, got {type(error).__name__}: {error}"
    message = str(error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert len(message) <= MAX_MESSAGE, f"message of {len(message)} characters: {message[:200]}..."


def check_cli_refusal(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The CLI stopped on bad input the documented way: exit code 2, one ``error:`` line, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def tiny_train_config(**changes: Any) -> dict[str, Any]:
    """A few seconds of training on 96 digits images at resolution 24, one thread, deterministic."""
    config: dict[str, Any] = {
        "supernet": "ofa_mbv3_small",
        "batch_size": 32,
        "data": {"limit_train": 96},
        "phases": [{"epochs": 2, "random_subnets": 1, "resolutions": [24]}],
        "checkpoint_every": 1,
        "deterministic": True,
        "threads": 1,
        "calibration_images": 64,
        "device": "cpu",
    }
    config.update(changes)
    return config


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@cache
def mount_namespace_available() -> bool:
    """Whether ``unshare`` can give a process its own mount namespace in which it may mount a tmpfs (root, or
    unprivileged user namespaces enabled): the way these tests make a real full or read-only file system."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs /mnt"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


def run_in_mount_namespace(script: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a shell ``script`` as root of a private user and mount namespace: its mounts (a tiny tmpfs, a
    read-only bind mount) exist for it alone and vanish when it exits; files it copies out stay."""
    if not mount_namespace_available():
        pytest.skip("no mount namespace here (needs root or unprivileged user namespaces) for a real full disk")
    return subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-euc", script],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (children of children, ...), from /proc/<pid>/stat."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def command_line(pid: int) -> str:
    """A process's command line (its title, for Ray workers), or "" once it is gone."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def shell_nas(*args: str) -> str:
    """A ``python -m nas ...`` command line for a shell script."""
    return " ".join(_quote(part) for part in nas_command(*args))


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)
