"""What a training run reports, in one place: ``metrics.csv`` (one row per finished epoch), TensorBoard scalars,
the progress bar and log lines. Under torchrun only the main process writes any of it.

``metrics.csv`` is an append-only log: a kill can leave a torn last row, and a resumed run repeats the epochs
after its checkpoint, so :meth:`RunLog.trim_metrics` cuts the file back to the whole rows of finished epochs
before the run goes on.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from nas.core.files import atomic_write_text
from search_spaces import CheckpointError, NasError

__all__ = ["METRIC_FIELDS", "EpochTotals", "RunLog"]

METRIC_FIELDS = (
    "phase",
    "epoch",
    "step",
    "lr",
    "loss",
    "student_loss",
    "train_acc",
    "images_per_s",
    "seconds",
)


@dataclass
class EpochTotals:
    """Running sums of the current epoch, checkpointed so a resumed epoch reports what an uninterrupted one would."""

    loss: float = 0.0
    student_loss: float = 0.0
    correct: int = 0
    seen: int = 0
    steps: int = 0

    def add(self, loss: float, student_loss: float, correct: int, seen: int) -> None:
        self.loss += loss
        self.student_loss += student_loss
        self.correct += correct
        self.seen += seen
        self.steps += 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            "loss": self.loss,
            "student_loss": self.student_loss,
            "correct": self.correct,
            "seen": self.seen,
            "steps": self.steps,
        }


class RunLog:
    """The reports of the run in ``run_dir``; call :meth:`close` when training stops.

    Args:
        run_dir: the run folder (``metrics.csv`` and ``tensorboard/`` go there).
        main: whether this process writes (rank 0 under torchrun); the others report nothing.
        progress: show the progress bar and log lines on ``stream``.
    """

    def __init__(self, run_dir: Path, *, main: bool = True, progress: bool = True, stream: TextIO = sys.stderr):
        self.run_dir = run_dir
        self.main = main
        self.progress = progress
        self.stream = stream
        self.metrics_path = run_dir / "metrics.csv"
        self._bar: Any = None
        self._writer: Any = None  # TensorBoard's SummaryWriter, created on the first scalar

    # ------------------------------------------------------------------ progress and messages
    def open_progress(self, total: int, initial: int) -> None:
        """Show a progress bar of ``total`` steps, ``initial`` of them already done."""
        if not self.progress or not self.main:
            return
        self._bar = tqdm(total=total, initial=initial, desc="train", unit="step", file=self.stream, dynamic_ncols=True)

    def advance(self, **postfix: Any) -> None:
        """One step done: move the progress bar on and show ``postfix`` beside it."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(**postfix)

    def message(self, text: str) -> None:
        """A log line (shown when progress is)."""
        if self.progress and self.main:
            print(text, file=self.stream, flush=True)

    # ------------------------------------------------------------------ TensorBoard
    def scalar(self, tag: str, value: float, step: int, every: int = 10) -> None:
        """Record ``value`` under ``tag`` at ``step``, on every ``every``-th step only."""
        if step % every or not self.main:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"))
        self._writer.add_scalar(tag, value, step)

    # ------------------------------------------------------------------ metrics.csv
    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append a finished epoch's row (keys :data:`METRIC_FIELDS`) and its scalars at the row's step."""
        if not self.main:
            return
        for key in ("loss", "student_loss", "train_acc", "images_per_s"):
            self.scalar(f"epoch/{key}", float(row[key]), int(row["step"]), every=1)
        path = self.metrics_path
        new = not path.is_file()
        try:
            with open(path, "a", newline="") as stream:
                writer = csv.DictWriter(stream, fieldnames=METRIC_FIELDS, lineterminator="\n")
                if new:
                    writer.writeheader()
                writer.writerow(row)
        except OSError as exc:
            raise NasError(f"cannot write {path}: {exc.strerror or exc}") from None

    def trim_metrics(self, finished_epochs: int) -> None:
        """Keep only the whole rows of the first ``finished_epochs`` epochs (a resumed run writes the others again,
        so no epoch is listed twice); the file is rewritten atomically, and only when something is cut."""
        path = self.metrics_path
        if not self.main or not path.is_file():
            return
        try:
            with open(path, newline="") as stream:
                rows = list(csv.DictReader(stream))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CheckpointError(f"cannot read {path}: {exc}") from None
        kept = [row for row in rows if None not in row.values() and row.get("epoch", "").isdigit()]
        kept = [row for row in kept if int(row["epoch"]) <= finished_epochs and set(row) == set(METRIC_FIELDS)]
        if len(kept) == len(rows) and path.read_bytes().endswith(b"\n"):
            return
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(path, text.getvalue())

    def close(self) -> None:
        """Close the progress bar and TensorBoard's writer (which flushes it; a later scalar opens a new one)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
