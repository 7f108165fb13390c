"""Pareto fronts and exact hypervolume against hand-computed and Monte-Carlo values; the front and hypervolume
plots write PNG files; bad inputs name the field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nas.search.pareto import default_reference, hypervolume, hypervolume_curve, pareto_mask
from nas.search.plots import plot_front, plot_hypervolume
from search_spaces import ConfigError
from tests.timing import fastest_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN2 = ["minimize", "minimize"]
MIN3 = ["minimize", "minimize", "minimize"]


def brute_force_mask(values: np.ndarray, directions: list[str]) -> np.ndarray:
    """Reference implementation: compare every pair."""
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    points = values * signs
    return np.array(
        [not any(np.all(q <= p) and np.any(q < p) for q in points) for p in points],
        dtype=bool,
    )


# --- pareto_mask -------------------------------------------------------------------------------------------------


def test_pareto_mask_mixed_directions() -> None:
    # objective 0: latency (minimize), objective 1: accuracy (maximize)
    values = np.array(
        [
            [10.0, 0.70],  # front: fastest
            [20.0, 0.80],  # front
            [25.0, 0.75],  # dominated by [20, 0.80]
            [30.0, 0.90],  # front: most accurate
            [30.0, 0.85],  # dominated by [30, 0.90] (tie in latency)
            [20.0, 0.80],  # duplicate of a front point: kept
            [40.0, 0.90],  # dominated by [30, 0.90]
        ]
    )
    mask = pareto_mask(values, ["minimize", "maximize"])
    assert mask.dtype == bool
    assert mask.tolist() == [True, True, False, True, False, True, False]
    # the same points with both directions flipped give the "anti-front"
    flipped = pareto_mask(values, ["maximize", "minimize"])
    assert flipped.tolist() == [True, False, True, False, True, False, True]


def test_pareto_mask_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(0, 6, size=(80, 3)).astype(float)  # many ties and duplicates
    directions = ["minimize", "maximize", "minimize"]
    assert np.array_equal(pareto_mask(values, directions), brute_force_mask(values, directions))


def test_pareto_mask_empty_and_single() -> None:
    assert pareto_mask(np.empty((0, 2)), MIN2).shape == (0,)
    assert pareto_mask(np.array([[1.0, 2.0]]), MIN2).tolist() == [True]


# --- hypervolume -------------------------------------------------------------------------------------------------


def test_hypervolume_single_point_is_its_box() -> None:
    assert hypervolume(np.array([[1.0, 2.0]]), MIN2, [4.0, 5.0]) == pytest.approx(3.0 * 3.0)
    assert hypervolume(np.array([[1.0, 2.0, 3.0]]), MIN3, [2.0, 4.0, 7.0]) == pytest.approx(1.0 * 2.0 * 4.0)


def test_hypervolume_two_overlapping_boxes_2d() -> None:
    # boxes [1,4]x[3,4] (area 3) and [2,4]x[1,4] (area 6) overlap in [2,4]x[3,4] (area 2): union 7
    values = np.array([[1.0, 3.0], [2.0, 1.0]])
    assert hypervolume(values, MIN2, [4.0, 4.0]) == pytest.approx(7.0)


def test_hypervolume_two_overlapping_boxes_3d() -> None:
    # boxes 1x2x3=6 and 3x1x1=3 with reference 3 meet in [2,3]x[2,3]x[2,3] (volume 1): union 8
    values = np.array([[2.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    assert hypervolume(values, MIN3, [3.0, 3.0, 3.0]) == pytest.approx(6.0 + 3.0 - 1.0)


def test_hypervolume_three_points_3d_hand_computed() -> None:
    # three boxes of volume 2x1x1 in [0,2]^3; every pair and the triple meet in [1,2]^3 (volume 1)
    values = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    # inclusion-exclusion: 3*2 - 3*1 + 1
    assert hypervolume(values, MIN3, [2.0, 2.0, 2.0]) == pytest.approx(4.0)


def test_points_not_better_than_reference_contribute_nothing() -> None:
    values = np.array([[1.0, 1.0]])
    assert hypervolume(values, MIN2, [3.0, 3.0]) == pytest.approx(4.0)
    worse = np.array([[1.0, 1.0], [5.0, 0.0], [0.0, 3.0], [-1.0, 6.0]])  # beyond or on the reference
    assert hypervolume(worse, MIN2, [3.0, 3.0]) == pytest.approx(4.0)
    assert hypervolume(np.array([[3.0, 0.0]]), MIN2, [3.0, 3.0]) == 0.0
    assert hypervolume(np.empty((0, 2)), MIN2, [3.0, 3.0]) == 0.0


def test_maximize_equals_minimize_of_negation() -> None:
    rng = np.random.default_rng(1)
    values = rng.random((30, 3))
    directions = ["maximize", "minimize", "maximize"]
    reference = np.array([0.0, 1.0, 0.05])
    signs = np.array([-1.0, 1.0, -1.0])
    expected = hypervolume(values * signs, MIN3, reference * signs)
    assert expected > 0
    assert hypervolume(values, directions, reference) == pytest.approx(expected)
    # and a hand case: maximize two objectives of one point (3, 2) against the lower bound (1, 1)
    assert hypervolume(np.array([[3.0, 2.0]]), ["maximize", "maximize"], [1.0, 1.0]) == pytest.approx(2.0)


def test_adding_dominated_points_keeps_hypervolume() -> None:
    rng = np.random.default_rng(2)
    for m in (2, 3, 4):
        directions = ["minimize"] * m
        values = rng.random((25, m))
        reference = np.full(m, 1.2)
        base = hypervolume(values, directions, reference)
        dominated = values[rng.integers(0, 25, size=10)] + rng.random((10, m)) * 0.1
        more = np.vstack([values, dominated, values[:3]])  # dominated points and duplicates
        assert hypervolume(more, directions, reference) == pytest.approx(base, rel=1e-12)
        # a new non-dominated point does change it
        assert hypervolume(np.vstack([values, np.full(m, -0.1)]), directions, reference) > base


def test_hypervolume_agrees_with_monte_carlo_3d() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((40, 3)) * np.array([1.0, 2.0, 0.5])
    directions = ["minimize", "maximize", "minimize"]
    reference = np.array([1.1, -0.1, 0.6])
    exact = hypervolume(values, directions, reference)
    # sample the box spanned by the ideal point and the reference, in minimization form
    points = values * np.array([1.0, -1.0, 1.0])
    ref = reference * np.array([1.0, -1.0, 1.0])
    low = points.min(axis=0)
    samples = low + rng.random((200_000, 3)) * (ref - low)
    covered = np.zeros(len(samples), dtype=bool)
    for p in points:
        covered |= np.all(samples >= p, axis=1)
    estimate = covered.mean() * np.prod(ref - low)
    assert exact == pytest.approx(estimate, rel=0.02)


def test_hypervolume_is_fast_for_3_objectives_200_points() -> None:
    rng = np.random.default_rng(4)
    values = rng.random((200, 3))
    values /= np.linalg.norm(values, axis=1, keepdims=True)  # all on a spherical front: worst case
    assert pareto_mask(values, MIN3).all()
    value, seconds = fastest_of(lambda: hypervolume(values, MIN3, [1.1, 1.1, 1.1]))
    assert seconds < 1.0
    assert 0 < value < 1.1**3


# --- hypervolume_curve -------------------------------------------------------------------------------------------


def test_hypervolume_curve_non_decreasing_and_ends_at_feasible_hypervolume() -> None:
    rng = np.random.default_rng(5)
    values = rng.random((150, 2))
    directions = ["minimize", "maximize"]
    feasible = rng.random(150) < 0.6
    values[~feasible] = values[~feasible] * 0.01 + np.array([0.0, 0.99])  # infeasible points would be excellent
    values[np.flatnonzero(~feasible)[:5]] = np.nan  # and failed evaluations may be NaN
    reference = [1.1, -0.1]
    curve = hypervolume_curve(values, directions, reference, feasible=feasible)
    assert curve.shape == (150,)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == pytest.approx(hypervolume(values[feasible], directions, reference), rel=1e-9)
    for i in (1, 10, 77):
        assert curve[i - 1] == pytest.approx(hypervolume(values[:i][feasible[:i]], directions, reference), abs=1e-12)
    # before the first feasible point the curve is 0; infeasible points never raise it
    first = int(np.argmax(feasible))
    assert np.all(curve[:first] == 0.0)
    steps = np.flatnonzero(np.diff(curve) > 0) + 1
    assert feasible[steps].all()


def test_hypervolume_curve_without_mask_3d() -> None:
    rng = np.random.default_rng(6)
    values = rng.random((60, 3))
    curve = hypervolume_curve(values, MIN3, [1.0, 1.0, 1.0])
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] == pytest.approx(hypervolume(values, MIN3, [1.0, 1.0, 1.0]), rel=1e-9)
    assert curve[29] == pytest.approx(hypervolume(values[:30], MIN3, [1.0, 1.0, 1.0]), rel=1e-9)


def test_hypervolume_curve_is_fast_for_2000_points() -> None:
    x = np.random.default_rng(7).random(2000)
    values = np.stack([x, 1.0 - x], axis=1)  # every point is on the front: the worst case
    curve, seconds = fastest_of(lambda: hypervolume_curve(values, MIN2, [1.1, 1.1]))
    assert seconds < 2.0
    assert curve[-1] == pytest.approx(hypervolume(values, MIN2, [1.1, 1.1]), rel=1e-9)


# --- default_reference -------------------------------------------------------------------------------------------


def test_default_reference() -> None:
    values = np.array([[1.0, 0.5, 3.0], [3.0, 0.9, 3.0]])
    ref = default_reference(values, ["minimize", "maximize", "minimize"], margin=0.1)
    # worst latency 3 + 0.1*2; worst accuracy 0.5 - 0.1*0.4; zero range: 3 + 0.1*|3|
    assert ref == pytest.approx([3.2, 0.46, 3.3])
    zero = default_reference(np.array([[0.0, 2.0]]), ["maximize", "minimize"])
    assert zero == pytest.approx([-1.0, 2.2])
    # every point is strictly inside, so each contributes
    assert hypervolume(values, ["minimize", "maximize", "minimize"], ref) > 0


# --- bad inputs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: pareto_mask(np.ones((3, 2)), ["minimize", "fastest"]), "directions"),
        (lambda: pareto_mask(np.ones((3, 2)), ["minimize"]), "directions"),
        (lambda: pareto_mask(np.ones((3, 2)), "minimize"), "directions"),
        (lambda: pareto_mask(np.ones(3), ["minimize"]), "values"),
        (lambda: pareto_mask(np.array([[1.0, np.nan]]), MIN2), "values"),
        (lambda: hypervolume(np.ones((3, 2)), MIN2, [1.0, 2.0, 3.0]), "reference"),
        (lambda: hypervolume(np.ones((3, 2)), MIN2, [1.0, np.inf]), "reference"),
        (lambda: hypervolume(np.ones((3, 3)), MIN2, [1.0, 2.0]), "directions"),
        (lambda: hypervolume_curve(np.ones((3, 2)), MIN2, [2.0, 2.0], feasible=np.ones(4, bool)), "feasible"),
        (lambda: default_reference(np.ones((3, 2)), MIN2, margin=-1.0), "margin"),
        (lambda: default_reference(np.empty((0, 2)), MIN2), "values"),
    ],
)
def test_bad_inputs_name_the_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.field == field
    assert field in str(info.value)


def test_unknown_direction_message_lists_allowed() -> None:
    with pytest.raises(ConfigError, match=r"'up'.*minimize, maximize"):
        hypervolume(np.ones((2, 2)), ["up", "minimize"], [2.0, 2.0])


# --- plots -------------------------------------------------------------------------------------------------------


def front_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    values = np.column_stack([rng.random(60) * 30, 0.6 + rng.random(60) * 0.3, rng.random(60)])
    feasible = values[:, 0] < 25
    mask = np.zeros(60, dtype=bool)
    mask[feasible] = pareto_mask(values[feasible, :2], ["minimize", "maximize"])
    return values, feasible, mask


def test_plot_front_writes_png_with_budgets_into_new_folder(tmp_path: Path) -> None:
    values, feasible, front = front_data()
    target = tmp_path / "nested" / "deeper" / "front.png"
    written = plot_front(
        values,
        feasible,
        front,
        ["latency_ms", "accuracy", "params"],
        ["minimize", "maximize", "minimize"],
        target,
        budgets={"latency_ms": 25.0, "accuracy": 0.7, "params": 0.5},
        title="front",
    )
    assert written == target
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000
    assert [p.name for p in target.parent.iterdir()] == ["front.png"]  # no temporary file left behind


def test_plot_front_maximized_x_and_no_front(tmp_path: Path) -> None:
    values, feasible, front = front_data()
    path = plot_front(values[:, 1::-1], feasible, front, ["acc", "lat"], ["maximize", "minimize"], tmp_path / "a.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    nothing = np.zeros(60, dtype=bool)
    path = plot_front(values[:, :2], nothing, nothing, ["lat", "acc"], ["minimize", "maximize"], tmp_path / "b.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_front_bad_inputs(tmp_path: Path) -> None:
    values, feasible, front = front_data()
    with pytest.raises(ConfigError) as info:
        plot_front(values, feasible[:10], front, ["a", "b", "c"], MIN3, tmp_path / "x.png")
    assert info.value.field == "feasible"
    with pytest.raises(ConfigError) as info:
        plot_front(values, feasible, front, ["a", "b"], MIN3, tmp_path / "x.png")
    assert info.value.field == "names"
    with pytest.raises(ConfigError) as info:
        plot_front(values, feasible, front, ["a", "b", "c"], ["min", "max", "min"], tmp_path / "x.png")
    assert info.value.field == "directions"
    assert not (tmp_path / "x.png").exists()


def test_plot_hypervolume_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    values = rng.random((50, 2))
    curves = {
        "search": hypervolume_curve(values, MIN2, [1.0, 1.0]),
        "random": hypervolume_curve(values[::-1], MIN2, [1.0, 1.0]) * 0.9,
    }
    target = tmp_path / "new" / "hv.png"
    assert plot_hypervolume(curves, target) == target
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    with pytest.raises(ConfigError) as info:
        plot_hypervolume({}, tmp_path / "empty.png")
    assert info.value.field == "curves"
