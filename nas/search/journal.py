"""The study's journal file, written once per finished trial instead of once per operation.

Optuna's journal storage appends (and fsyncs) a log line for every operation: each suggested parameter, each
attribute, each tell. A search space with 40+ decisions then spends ~25 ms per trial on the file. This backend
keeps a trial's operations in memory and appends them in one locked write when any trial finishes (or the study
is created), so the file always ends at a finished trial's last line.

It assumes one driver writes the file (the search's design: one driver owns the study); readers such as
``optuna-dashboard`` may open it at any time. Every append ends with a study-creation or trial-finished line, so
on opening the file is cut back to the last such line: whatever a killed process or a full disk left of an
append (a torn line, or whole lines of a batch that did not reach its end) goes, and no half-recorded trial (some
of its parameters, not all) is ever read back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend

from search_spaces import NasError

__all__ = ["TrialBatchedJournal"]

_CREATE_STUDY = 0
_SET_TRIAL_STATE_VALUES = 6
_FLUSH_ON = {_CREATE_STUDY, _SET_TRIAL_STATE_VALUES}


class TrialBatchedJournal(JournalFileBackend):
    """A journal file backend that batches a trial's log lines into one append (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        try:
            _cut_torn_tail(self.path)
            super().__init__(str(self.path))
            self._written = _count_lines(self.path)
        except OSError as exc:
            raise NasError(f"cannot open the study journal {self.path}: {exc.strerror or exc}") from None
        self._pending: list[dict[str, Any]] = []
        self._last_batch: list[dict[str, Any]] = []  # the last append, kept to answer reads without the file
        self._last_batch_start = self._written

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._pending.extend(logs)
        if any(log.get("op_code") in _FLUSH_ON for log in logs):
            self.flush()

    def flush(self) -> None:
        """Append every held line in one locked, fsynced write."""
        if self._pending:
            try:
                super().append_logs(self._pending)
            except OSError as exc:  # a full disk or a read-only folder; a torn tail is cut on the next opening
                raise NasError(f"cannot write the study journal {self.path}: {exc.strerror or exc}") from None
            self._last_batch, self._last_batch_start = self._pending, self._written
            self._written += len(self._pending)
            self._pending = []

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        """Logs from ``log_number_from`` on. As the only writer this backend knows what the file ends with: a read
        from within its last append (the storage reads back every trial it just finished) is answered from memory,
        and only an older position (opening the study) scans the file, whose line offsets Optuna learns only by
        reading (lines it appended are unknown to it, so each such read would start from the top)."""
        if log_number_from < self._last_batch_start:
            yield from super().read_logs(log_number_from)  # to the end of the file, the last append included
        else:
            yield from self._last_batch[log_number_from - self._last_batch_start :]
        yield from self._pending[max(0, log_number_from - self._written) :]


def _cut_torn_tail(path: Path) -> None:
    """Cut the file back to the end of its last complete append (see the module docstring)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as stream:
        data = stream.read()
        end = len(data) if data.endswith(b"\n") else data.rfind(b"\n") + 1
        while end > 0:
            start = data.rfind(b"\n", 0, end - 1) + 1
            if _op_code(data[start:end]) in _FLUSH_ON:
                break
            end = start
        if end < len(data):
            stream.truncate(end)


def _op_code(line: bytes) -> Any:
    try:
        return json.loads(line).get("op_code")
    except (ValueError, AttributeError, RecursionError):
        return None


def _count_lines(path: Path) -> int:
    with open(path, "rb") as stream:
        return sum(1 for _ in stream)
