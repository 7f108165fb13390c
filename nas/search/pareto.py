"""Pareto fronts and exact hypervolume for objectives that are each minimized or maximized.

Every function takes the objective values as an ``(n, m)`` array in the objectives' own units plus one direction
per column; internally maximized columns are negated so that all the geometry is done for minimization.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from search_spaces import ConfigError

__all__ = [
    "DIRECTIONS",
    "Direction",
    "check_directions",
    "check_mask",
    "default_reference",
    "hypervolume",
    "hypervolume_curve",
    "pareto_mask",
    "selection_order",
]

Direction = Literal["minimize", "maximize"]
DIRECTIONS: tuple[str, ...] = ("minimize", "maximize")


def check_directions(directions: Sequence[str], columns: int) -> np.ndarray:
    """Validate the direction names; return +1 for minimized and -1 for maximized columns."""
    if isinstance(directions, str):
        raise ConfigError(
            f"directions must be a sequence of {columns} names, got the string {directions!r}; "
            f"allowed names: {', '.join(DIRECTIONS)}",
            field="directions",
            value=directions,
            allowed=DIRECTIONS,
        )
    names = list(directions)
    for name in names:
        if name not in DIRECTIONS:
            raise ConfigError(
                f"unknown direction {name!r} in directions; allowed: {', '.join(DIRECTIONS)}",
                field="directions",
                value=name,
                allowed=DIRECTIONS,
            )
    if len(names) != columns:
        raise ConfigError(
            f"directions has {len(names)} entries ({names}) but values has {columns} objective columns; "
            "give one direction per column",
            field="directions",
            value=names,
        )
    return np.array([1.0 if name == "minimize" else -1.0 for name in names])


def _check_values(values: np.ndarray, field: str = "values") -> np.ndarray:
    """Validate a 2-D float array with at least one objective column."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"{field} must be a numeric (n, m) array: {exc}", field=field, value=type(values).__name__
        ) from None
    if array.ndim != 2 or array.shape[1] < 1:
        raise ConfigError(
            f"{field} must be a 2-D array of shape (n_points, n_objectives) with n_objectives >= 1, "
            f"got shape {array.shape}",
            field=field,
            value=array.shape,
        )
    return array


def _check_finite(array: np.ndarray, field: str = "values") -> None:
    """Reject NaN or infinite objective values (they have no place on a front)."""
    if not np.all(np.isfinite(array)):
        rows = np.flatnonzero(~np.all(np.isfinite(array), axis=1))
        raise ConfigError(
            f"{field} must be finite; rows {rows[:10].tolist()} hold NaN or inf "
            "(mark failed evaluations infeasible instead)",
            field=field,
            value=rows.tolist(),
        )


def check_mask(mask: np.ndarray, rows: int, field: str) -> np.ndarray:
    """Validate a boolean mask with one entry per row."""
    array = np.asarray(mask)
    if array.shape != (rows,):
        raise ConfigError(
            f"{field} must have shape ({rows},), one flag per evaluation, got shape {array.shape}",
            field=field,
            value=array.shape,
        )
    if array.dtype != bool and not (np.issubdtype(array.dtype, np.number) and np.all((array == 0) | (array == 1))):
        raise ConfigError(
            f"{field} must hold booleans (or 0/1), got dtype {array.dtype}", field=field, value=str(array.dtype)
        )
    return array.astype(bool)


def _check_reference(reference: np.ndarray, columns: int) -> np.ndarray:
    """Validate a finite reference point with one coordinate per objective."""
    try:
        ref = np.asarray(reference, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"reference must be numeric: {exc}", field="reference", value=reference) from None
    if ref.shape != (columns,):
        raise ConfigError(
            f"reference must have {columns} coordinates, one per objective, got shape {ref.shape}",
            field="reference",
            value=ref.tolist(),
        )
    if not np.all(np.isfinite(ref)):
        raise ConfigError(f"reference must be finite, got {ref.tolist()}", field="reference", value=ref.tolist())
    return ref


def _nondominated_min(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows not dominated by another row, all objectives minimized; duplicates are kept.

    Rows are visited in lexicographic order: a row can only be dominated by one before it, so the first row still
    alive is on the front and removes the later rows it dominates (cost: front size x n).
    """
    n = points.shape[0]
    order = np.lexsort(points.T[::-1])
    ordered = points[order]
    alive = np.ones(n, dtype=bool)
    for pos in range(n):
        if not alive[pos]:
            continue
        rest = ordered[pos + 1 :]
        dominated = np.all(ordered[pos] <= rest, axis=1) & np.any(ordered[pos] < rest, axis=1)
        alive[pos + 1 :] &= ~dominated
    mask = np.empty(n, dtype=bool)
    mask[order] = alive
    return mask


def _hv2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume by a sweep; points must be strictly better than ``ref`` in both objectives."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    x = points[order, 0]
    y = points[order, 1]
    best = np.minimum.accumulate(y)
    previous = np.concatenate(([ref[1]], best[:-1]))
    return float(np.sum((ref[0] - x) * np.maximum(previous - y, 0.0)))


def _hv_min(points: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume for minimization; every point must be strictly better than ``ref`` everywhere."""
    n, m = points.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - points[:, 0].min())
    if m == 2:
        return _hv2d(points, ref)
    points = points[_nondominated_min(points)]
    # Slice along the last objective: between consecutive levels the cross-section is the (m-1)-D hypervolume of
    # the points at or below the level.
    points = points[np.argsort(points[:, -1], kind="stable")]
    levels = np.append(points[:, -1], ref[-1])
    total = 0.0
    for i in range(points.shape[0]):
        depth = levels[i + 1] - levels[i]
        if depth > 0:
            total += _hv_min(points[: i + 1, :-1], ref[:-1]) * depth
    return float(total)


def _to_min(values: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """Map values (or a reference) to the all-minimize form."""
    return values * signs


def pareto_mask(values: np.ndarray, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask (n,) of the non-dominated rows of ``values``; every copy of a non-dominated point is kept."""
    array = _check_values(values)
    signs = check_directions(directions, array.shape[1])
    _check_finite(array)
    return _nondominated_min(_to_min(array, signs))


def selection_order(values: np.ndarray, directions: Sequence[str], limit: int | None = None) -> np.ndarray:
    """Row indices best first: by non-dominated front (NSGA-II's sorting), then by crowding distance within a
    front (boundary points first), so a prefix of the order is both good and spread out.

    With ``limit``, sorting stops once the fronts taken hold at least ``limit`` rows (only those are returned).
    """
    points = _to_min(_check_values(values), check_directions(directions, np.shape(values)[1]))
    _check_finite(points)
    wanted = points.shape[0] if limit is None else min(limit, points.shape[0])
    if points.shape[1] == 1:
        return np.argsort(points[:, 0], kind="stable")[:wanted]
    remaining = np.arange(points.shape[0])
    order: list[np.ndarray] = []
    taken = 0
    while remaining.size and taken < wanted:
        front = remaining[_nondominated_min(points[remaining])]
        order.append(front[np.argsort(-_crowding(points[front]), kind="stable")])
        remaining = np.setdiff1d(remaining, front, assume_unique=True)
        taken += front.size
    return np.concatenate(order) if order else remaining


def _crowding(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of one front (infinite at each objective's extremes)."""
    n = points.shape[0]
    distance = np.zeros(n)
    for column in points.T:
        order = np.argsort(column, kind="stable")
        span = column[order[-1]] - column[order[0]]
        distance[order[[0, -1]]] = np.inf
        if n > 2 and span > 0:
            distance[order[1:-1]] += (column[order[2:]] - column[order[:-2]]) / span
    return distance


def hypervolume(values: np.ndarray, directions: Sequence[str], reference: Sequence[float] | np.ndarray) -> float:
    """Exact hypervolume dominated by the points and bounded by ``reference`` (in the objectives' own units).

    For a minimized objective the reference is an upper bound, for a maximized one a lower bound; a point that is
    not strictly better than the reference in every objective contributes nothing.
    """
    array = _check_values(values)
    signs = check_directions(directions, array.shape[1])
    ref = _check_reference(reference, array.shape[1])
    _check_finite(array)
    points = _to_min(array, signs)
    ref_min = _to_min(ref, signs)
    inside = np.all(points < ref_min, axis=1)
    return _hv_min(points[inside], ref_min)


def hypervolume_curve(
    values: np.ndarray,
    directions: Sequence[str],
    reference: Sequence[float] | np.ndarray,
    feasible: np.ndarray | None = None,
) -> np.ndarray:
    """Hypervolume of the feasible points among the first ``i`` evaluations, for ``i = 1..n`` (non-decreasing).

    Each new point adds its exclusive contribution: the volume of its own box minus the part of that box already
    covered by the running front. Infeasible rows are skipped and may hold NaN.
    """
    array = _check_values(values)
    n, m = array.shape
    signs = check_directions(directions, m)
    ref = _check_reference(reference, m)
    keep = np.ones(n, dtype=bool) if feasible is None else check_mask(feasible, n, "feasible")
    _check_finite(array[keep])
    points = _to_min(array, signs)
    ref_min = _to_min(ref, signs)
    curve = np.zeros(n, dtype=float)
    front = np.empty((0, m), dtype=float)
    total = 0.0
    for i in range(n):
        point = points[i]
        if keep[i] and np.all(point < ref_min) and not np.any(np.all(front <= point, axis=1)):
            box = float(np.prod(ref_min - point))
            covered = _hv_min(np.maximum(front, point), ref_min) if front.shape[0] else 0.0
            total += max(box - covered, 0.0)
            front = np.vstack([front[~np.all(point <= front, axis=1)], point])
        curve[i] = total
    return curve


def default_reference(values: np.ndarray, directions: Sequence[str], margin: float = 0.1) -> np.ndarray:
    """A reference point just beyond the worst value of each objective: ``worst + margin * range`` outwards.

    Where an objective's range is zero the offset is ``margin * |worst|``, or 1.0 if that is zero too.
    """
    array = _check_values(values)
    signs = check_directions(directions, array.shape[1])
    if array.shape[0] == 0:
        raise ConfigError("values must hold at least one point to derive a reference", field="values", value=0)
    _check_finite(array)
    if not (np.isfinite(margin) and margin > 0):
        raise ConfigError(f"margin must be a finite number > 0, got {margin!r}", field="margin", value=margin)
    points = _to_min(array, signs)
    worst = points.max(axis=0)
    spread = worst - points.min(axis=0)
    offset = np.where(spread > 0, margin * spread, margin * np.abs(worst))
    offset = np.where(offset > 0, offset, 1.0)
    return _to_min(worst + offset, signs)
