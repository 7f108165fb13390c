"""The training checkpoint (``checkpoints/last.pt``): its format, writing one and reading one back, checked.

A checkpoint holds everything a run needs to continue exactly where it stopped: weights, optimizer, scheduler,
frozen teacher, position (phase, epoch, step), the current epoch's running sums and every random state. Reading
refuses a file of another format or version, one written with another config and one whose position this run
cannot be at; :func:`damage_reported` turns whatever else a damaged payload raises while it is restored into a
:class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.core.config import config_to_dict
from nas.core.files import load_torch_file, save_torch_file
from nas.supernet.base import Supernet
from nas.training.config import TrainConfig
from search_spaces import Arch, CheckpointError, NasError
from search_spaces.errors import short_repr

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "POSITION_FIELDS",
    "checked_position",
    "checkpoint_path",
    "damage_reported",
    "read_checkpoint",
    "restore_rng_state",
    "rng_state",
    "write_checkpoint",
]

CHECKPOINT_FORMAT = "nas-train-checkpoint"
CHECKPOINT_VERSION = 1
POSITION_FIELDS = ("phase_index", "epoch_in_phase", "step_in_epoch", "global_step")


def checkpoint_path(run_dir: Path) -> Path:
    """Where a run keeps its (one, latest) checkpoint."""
    return run_dir / "checkpoints" / "last.pt"


def write_checkpoint(
    path: Path,
    config: TrainConfig,
    *,
    supernet: Supernet,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    teacher: nn.Module | None,
    teacher_arch: Arch,
    position: dict[str, int],
    epoch_totals: dict[str, float | int],
    rng: random.Random,
) -> Path:
    """Save a checkpoint atomically: the format stamp, the run's config and the trainer's state.

    ``scheduler`` is None at a phase boundary (the next phase starts a fresh one); the teacher's arch is kept only
    with a teacher."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "config": config_to_dict(config),
        "supernet_payload": supernet.payload(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "teacher": teacher.state_dict() if teacher is not None else None,
        "teacher_arch": teacher_arch.to_json() if teacher is not None else None,
        "position": position,
        "epoch_totals": epoch_totals,
        "rng": rng_state(rng),
    }
    return save_torch_file(path, payload)


def read_checkpoint(path: Path, config: TrainConfig, config_path: Path) -> dict[str, Any]:
    """The payload of ``path``, refused unless it is a checkpoint of this format and version written with
    ``config`` (the run's ``config_path``)."""
    payload = load_torch_file(path, "training checkpoint")
    if payload.get("format") != CHECKPOINT_FORMAT or payload.get("format_version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not a version-{CHECKPOINT_VERSION} training checkpoint")
    if payload.get("config") != config_to_dict(config):
        raise CheckpointError(f"{path} was written with a different config than {config_path}")
    return payload


@contextmanager
def damage_reported(path: Path) -> Iterator[None]:
    """Report what restoring a damaged payload raises (a missing key, a tensor of the wrong shape, ...) as a
    :class:`CheckpointError` naming ``path``; a CheckpointError passes through as it is."""
    try:
        yield
    except CheckpointError:
        raise
    except (NasError, KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise CheckpointError(f"{path} is a damaged training checkpoint ({type(exc).__name__}: {reason})") from None


def checked_position(position: Any, path: Path, config: TrainConfig, steps_per_epoch: int) -> dict[str, int]:
    """The checkpoint's position, refused unless a run of ``config`` can be there (right phase, epoch and step
    ranges, and a global step that adds up)."""
    names = POSITION_FIELDS
    if not isinstance(position, dict) or any(type(position.get(name)) is not int for name in names):
        raise CheckpointError(f"{path}: position must hold the integers {', '.join(names)}; got {short_repr(position)}")
    phase, epoch, step, total = (position[name] for name in names)
    phases = config.phases
    finished = phase == len(phases) and epoch == 0 and step == 0
    inside = 0 <= phase < len(phases) and 0 <= epoch < phases[phase].epochs and 0 <= step <= steps_per_epoch
    if not (finished or inside) or total != (config.epochs_before(phase) + epoch) * steps_per_epoch + step:
        raise CheckpointError(
            f"{path}: position {short_repr(position)} does not fit this run ({len(phases)} phases, "
            f"{steps_per_epoch} steps per epoch)"
        )
    return {name: position[name] for name in names}


def rng_state(rng: random.Random) -> dict[str, Any]:
    """The random states a run draws from: ``rng`` (subnet sampling), torch's and, where present, CUDA's."""
    state: dict[str, Any] = {"python": rng.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(rng: random.Random, state: dict[str, Any]) -> None:
    """Put back the states :func:`rng_state` saved (CUDA's only where CUDA is available)."""
    rng.setstate(_as_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    """``random.setstate`` wants nested tuples; a checkpoint may hand lists back."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_tuple(v) for v in value)
    return value
