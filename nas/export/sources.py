"""Which subnet to export: an arch argument as ``nas eval`` reads it, or ``RUN:rank``, a row of a search run's
Pareto front (``front.csv``) together with what the search predicted for it."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.core.files import load_torch_file
from nas.search.results import read_report
from predictors.latency import LatencyTable
from search_spaces import Arch, CheckpointError, ConfigError, NasError, SearchSpace, safe_json
from search_spaces.parsing import parse_arch

__all__ = ["ArchChoice", "front_choices", "resolve_arch", "run_space"]

_RUN_RANK = re.compile(r"^(?P<run>[^{\[].*):(?P<rank>-?\d+)$", re.DOTALL)
_BOOKKEEPING = ("trial", "state", "evaluated", "worker", "feasible")


@dataclass(frozen=True)
class ArchChoice:
    """An arch to export, how it was given, and (from ``RUN:rank``) the search's predictions for it."""

    arch: Arch
    given: str
    search: dict[str, Any] | None = None


def resolve_arch(value: Arch | Mapping[str, Any] | str, space: SearchSpace) -> ArchChoice:
    """An :class:`Arch`, a label mapping, or text: ``smallest``, ``largest``, a JSON file, inline JSON (labels or
    an OFA config; see :func:`nas.archargs.parse_arch`) or ``RUN:rank`` (0-based row of ``RUN/front.csv``)."""
    if isinstance(value, Arch):
        if value.space != space.name:
            raise ConfigError(
                f"arch of space {value.space!r} cannot be exported from a supernet of space {space.name!r}",
                field="arch",
                value=value.space,
                allowed=[space.name],
            )
        return ArchChoice(space.validate(value.to_dict()), value.key)
    if isinstance(value, Mapping):
        arch = space.validate(value)
        return ArchChoice(arch, arch.key)
    match = _RUN_RANK.match(value.strip())
    if match and not Path(value).is_file():
        rank = int(match["rank"])
        choices = front_choices(match["run"], space)
        if not choices:
            raise ConfigError(f"the front of {match['run']} is empty", field="arch", value=value)
        if not 0 <= rank < len(choices):
            raise ConfigError(
                f"rank {rank} is beyond the front of {match['run']} ({len(choices)} rows: ranks 0..{len(choices) - 1})",
                field="arch",
                value=value,
                allowed=list(range(len(choices))),
            )
        return choices[rank]
    return ArchChoice(parse_arch(value, space), value)


def run_space(run_dir: str | Path) -> str | None:
    """The space a search run searched, from its ``search_config.json`` (its --space, else its supernet's or its
    latency table's space); None when the run does not say and its files are gone."""
    path = Path(run_dir) / "search_config.json"
    try:
        config = safe_json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    if config.get("space"):
        return str(config["space"])
    try:
        if config.get("supernet"):
            payload = load_torch_file(config["supernet"], "supernet")
            payload = payload.get("supernet_payload", payload)
            return str(payload.get("supernet")) if payload.get("supernet") else None
        if config.get("latency_table"):
            return LatencyTable.load(config["latency_table"]).space
    except NasError:
        return None
    return None


def front_choices(run_dir: str | Path, space: SearchSpace) -> list[ArchChoice]:
    """Every row of a search run's front, in ``front.csv`` order (rank 0 first), with its predicted metrics.

    Raises:
        DataError: the run has no readable results.
        CheckpointError: the run searched another space than ``space`` (the supernet's).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise ConfigError(f"search run folder {folder} does not exist", field="arch", value=str(folder))
    searched = run_space(folder)
    if searched is not None and searched != space.name:
        raise CheckpointError(
            f"search run {folder} searched space {searched!r} but the supernet is of space {space.name!r}"
        )
    summary, front = read_report(folder)
    labels = set(space.labels())
    choices = []
    for rank, row in enumerate(front.to_dict("records")):
        values = {key: _cell(value) for key, value in row.items() if key in labels and not _missing(value)}
        try:
            arch = space.validate(values)
        except NasError as error:
            raise CheckpointError(
                f"{folder / 'front.csv'}, row {rank + 2}: not an arch of {space.name!r}: {error}"
            ) from None
        metrics = {
            str(key): float(value)
            for key, value in row.items()
            if key not in labels and key not in _BOOKKEEPING and _finite(value)
        }
        objectives = list(summary.get("objectives", []))
        search = {
            "run": str(folder),
            "rank": rank,
            "trial": int(row["trial"]) if _finite(row.get("trial")) else None,
            "objectives": {name: metrics.get(name) for name in objectives},
            "directions": list(summary.get("directions", [])),
            "metrics": metrics,
            "budgets": list(summary.get("budgets", [])),
            "front_size": int(summary.get("front_size", len(front))),
            "trials": summary.get("trials"),
            "in_domain": _flag(row.get("in_domain")),
        }
        choices.append(ArchChoice(arch, f"{folder}:{rank}", search))
    return choices


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _flag(value: Any) -> bool | None:
    """A front's ``in_domain`` cell (a predicted search writes it) as a bool; None where the column is absent."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, str):
        value = {"true": True, "false": False}.get(value.strip().lower())
    return value if isinstance(value, bool) else None


def _finite(value: Any) -> bool:
    value = value.item() if hasattr(value, "item") else value
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _cell(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    return int(value) if isinstance(value, float) and value.is_integer() else value
