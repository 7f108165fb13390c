"""Bad-input corpus: saved predictor folders (``predictor.json`` plus, for the MLP ensemble, ``weights.safetensors``).

Each damaged, hostile or foreign folder must give a ``CheckpointError`` (``UnknownNameError`` for an unknown kind)
naming the file and what is wrong. LightGBM's own parser kills the process on some altered model texts, so those
are checked before LightGBM sees them: this file would crash, not fail, if one got through."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import predictors
from predictors import create_predictor, load_predictor
from search_spaces import CheckpointError, NasError, UnknownNameError
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas

ROWS = np.random.default_rng(0).random((30, 4))
TARGETS = ROWS @ np.array([1.0, -2.0, 0.5, 3.0]) + 2.0 * (ROWS[:, 0] > 0.5)  # a step: trees have splits
SMALL_OPTIONS = {
    "mlp_ensemble": {"members": 2, "hidden": (8,), "steps": 20},
    "gbm": {"rounds": 4},
    "ridge_gbm": {"rounds": 4},
    "blend": {"members": 2, "hidden": (8,), "steps": 20},
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small fitted predictor of every registered kind, saved."""
    root = tmp_path_factory.mktemp("predictors")
    folders = {}
    for kind in predictors.predictor_kinds():
        names = [f"f{i}" for i in range(ROWS.shape[1])]
        model = create_predictor(kind, feature_names=names, **SMALL_OPTIONS.get(kind, {}))
        folders[kind] = model.fit(ROWS, TARGETS).save(root / kind)
    return folders


def _copy(saved: dict[str, Path], kind: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved[kind], tmp_path / kind))


def _edit_meta(folder: Path, change: Callable[[dict[str, Any]], object]) -> None:
    path = folder / "predictor.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


Edit = Callable[[Path], None]


def meta_edit(change: Callable[[dict[str, Any]], object]) -> Edit:
    return lambda folder: _edit_meta(folder, change)


def raw_meta(text: str | bytes) -> Edit:
    def write(folder: Path) -> None:
        path = folder / "predictor.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return write


def truncate_meta(folder: Path) -> None:
    path = folder / "predictor.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def set_setting(key: str, value: Any) -> Edit:
    return meta_edit(lambda meta: meta["settings"].__setitem__(key, value))


class _Marker:
    """A pickle payload that would create a file if anything unpickled it."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


COMMON: list[tuple[str, Edit, type[NasError], list[str]]] = [
    # malformed / truncated
    ("json_cut_in_half", truncate_meta, CheckpointError, ["predictor.json is not valid JSON"]),
    ("empty_json", raw_meta(""), CheckpointError, ["predictor.json is not valid JSON"]),
    ("binary_json", raw_meta(b"\xff\xfe\x00\x01"), CheckpointError, ["predictor.json is not"]),
    ("no_predictor_json", lambda f: (f / "predictor.json").unlink(), CheckpointError, ["no predictor.json"]),
    ("settings_missing", meta_edit(lambda m: m.pop("settings")), CheckpointError, ["settings must be an object"]),
    # wrong type
    ("a_json_list", raw_meta("[1, 2]"), CheckpointError, ["is not a predictor file"]),
    ("format_other", meta_edit(lambda m: m.__setitem__("format", "sklearn")), CheckpointError, ["format='sklearn'"]),
    ("version_3", meta_edit(lambda m: m.__setitem__("format_version", 3)), CheckpointError, ["format_version=3"]),
    (
        "version_text",
        meta_edit(lambda m: m.__setitem__("format_version", "1")),
        CheckpointError,
        ["format_version='1'"],
    ),
    ("settings_list", meta_edit(lambda m: m.__setitem__("settings", [])), CheckpointError, ["settings must be"]),
    (
        "feature_names_text",
        meta_edit(lambda m: m.__setitem__("feature_names", "f0")),
        CheckpointError,
        ["feature_names"],
    ),
    ("feature_names_ints", meta_edit(lambda m: m.__setitem__("feature_names", [0, 1])), CheckpointError, ["strings"]),
    ("seed_text", meta_edit(lambda m: m.__setitem__("seed", "x")), CheckpointError, ["seed='x'"]),
    ("target_list", meta_edit(lambda m: m.__setitem__("target", ["a"])), CheckpointError, ["target=['a']"]),
    # out of range
    ("seed_huge", meta_edit(lambda m: m.__setitem__("seed", 10**30)), CheckpointError, ["seed=1000"]),
    ("seed_negative", meta_edit(lambda m: m.__setitem__("seed", -1)), CheckpointError, ["seed=-1"]),
    ("fewer_feature_names", meta_edit(lambda m: m.__setitem__("feature_names", ["f0"])), CheckpointError, ["1"]),
    # hostile
    ("kind_traversal", meta_edit(lambda m: m.__setitem__("kind", "../../os")), UnknownNameError, ["'../../os'", "gbm"]),
    ("kind_object", meta_edit(lambda m: m.__setitem__("kind", {"a": 1})), UnknownNameError, ["valid predictor kinds"]),
    ("nested_100k", raw_meta("[" * 100_000 + "]" * 100_000), CheckpointError, ["nested too deeply"]),
    ("integer_5000_digits", raw_meta('{"format": ' + "9" * 5000 + "}"), CheckpointError, ["4300 digits"]),
    ("pickled_meta", lambda f: (f / "predictor.json").write_bytes(pickle.dumps({"a": 1})), CheckpointError, ["is not"]),
]

MLP: list[tuple[str, Edit, type[NasError], list[str]]] = [
    ("weights_cut", lambda f: _cut(f / "weights.safetensors", 100), CheckpointError, ["weights.safetensors unread"]),
    ("weights_missing", lambda f: (f / "weights.safetensors").unlink(), CheckpointError, ["weights.safetensors"]),
    (
        "weights_header_claims_exabytes",
        lambda f: (f / "weights.safetensors").write_bytes((2**60).to_bytes(8, "little") + b"{}"),
        CheckpointError,
        ["weights.safetensors unreadable"],
    ),
    (
        "weights_are_a_pickle",
        lambda f: (f / "weights.safetensors").write_bytes(pickle.dumps(_Marker(f / "PWNED"))),
        CheckpointError,
        ["weights.safetensors unreadable"],
    ),
    ("members_million", set_setting("members", 10**6), CheckpointError, ["shapes", "settings imply"]),
    ("hidden_billion", set_setting("hidden", [10**9, 10**9]), CheckpointError, ["shapes", "settings imply"]),
    ("members_text", set_setting("members", "5"), CheckpointError, ["members must be an integer"]),
    ("x_mean_text", set_setting("x_mean", ["a"] * 4), CheckpointError, ["x_mean must be a list of numbers"]),
    ("x_std_zero", set_setting("x_std", [0.0] * 4), CheckpointError, ["x_std and y_std be > 0"]),
    ("x_mean_short", set_setting("x_mean", [0.0] * 3), CheckpointError, ["x_mean/x_std must have equal lengths"]),
    ("y_std_negative", set_setting("y_std", -1.0), CheckpointError, ["y_std be > 0"]),
    ("y_mean_missing", meta_edit(lambda m: m["settings"].pop("y_mean")), CheckpointError, ["settings lack 'y_mean'"]),
]


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _model(meta: dict[str, Any], change: Callable[[str], str]) -> None:
    meta["settings"]["model"] = change(meta["settings"]["model"])


def model_edit(change: Callable[[str], str]) -> Edit:
    return meta_edit(lambda meta: _model(meta, change))


def _edit_first_tree(text: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in the first tree, keeping the header's tree_sizes true (so the change itself,
    not a size mismatch, is what the check must catch)."""
    start = text.index("Tree=0\n")
    at = text.index(old, start)
    sizes = text[text.index("tree_sizes=") :].split("\n", 1)[0]
    first, *rest = sizes.removeprefix("tree_sizes=").split(" ")
    resized = "tree_sizes=" + " ".join([str(int(first) + len(new) - len(old)), *rest])
    return (text[:at] + new + text[at + len(old) :]).replace(sizes, resized, 1)


def _set_first_value(text: str, key: str, value: str) -> str:
    """Replace the first number of the first tree's ``key=`` line."""
    line = next(line for line in text[text.index("Tree=0") :].split("\n") if line.startswith(f"{key}="))
    tokens = line.split("=", 1)[1].split(" ")
    return _edit_first_tree(text, line, f"{key}={' '.join([value, *tokens[1:]])}")


def _cut_before_end_of_trees(text: str, fraction: float) -> str:
    """Cut inside the header or the trees (what follows the trees is not needed to predict, so a cut there is
    harmless and the model loads)."""
    return text[: int(text.index("end of trees") * fraction)]


BOOSTED: list[tuple[str, Edit, type[NasError], list[str]]] = [
    *[
        (
            f"model_cut_at_{fraction}_of_the_trees",
            model_edit(lambda t, f=fraction: _cut_before_end_of_trees(t, f)),
            CheckpointError,
            ["LightGBM"],
        )
        for fraction in (0.0005, 0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.9999)
    ],
    ("model_empty", model_edit(lambda t: ""), CheckpointError, ["must start with its 'tree' header"]),
    ("model_not_text", set_setting("model", 12), CheckpointError, ["must start with its 'tree' header"]),
    ("model_header_key_dropped", model_edit(lambda t: t.replace("label_index=0\n", "")), CheckpointError, ["header"]),
    ("model_two_classes", model_edit(lambda t: t.replace("num_class=1", "num_class=2")), CheckpointError, ["header"]),
    ("model_tree_sizes_off", model_edit(lambda t: t.replace("tree_sizes=", "tree_sizes=1")), CheckpointError, ["tree"]),
    (
        "model_split_feature_out_of_range",
        model_edit(lambda t: _set_first_value(t, "split_feature", "99")),
        CheckpointError,
        ["LightGBM tree 0: split_feature must lie in [0, 3]"],
    ),
    (
        "model_child_points_at_root",
        model_edit(lambda t: _set_first_value(t, "left_child", "0")),
        CheckpointError,
        ["LightGBM tree 0: left_child/right_child do not link the nodes into one tree"],
    ),
    (
        "model_leaf_index_out_of_range",
        model_edit(lambda t: _set_first_value(t, "right_child", "-999")),
        CheckpointError,
        ["LightGBM tree 0: right_child must lie in"],
    ),
    (
        "model_categorical_tree",
        model_edit(lambda t: _edit_first_tree(t, "num_cat=0", "num_cat=1")),
        CheckpointError,
        ["categorical or linear"],
    ),
    (
        "model_bad_number",
        model_edit(lambda t: _set_first_value(t, "shrinkage", "1_0")),
        CheckpointError,
        ["shrinkage must hold 1 numbers"],
    ),
    (
        "model_unknown_tree_line",
        model_edit(lambda t: _edit_first_tree(t, "is_linear=0", "is_linear=0\nexploit=1")),
        CheckpointError,
        ["unknown or repeated lines"],
    ),
]


BLEND: list[tuple[str, Edit, type[NasError], list[str]]] = [
    ("weights_missing", lambda f: (f / "weights.safetensors").unlink(), CheckpointError, ["weights.safetensors"]),
    ("gp_x_wrong_shape", set_setting("gp_x", [[0.0]]), CheckpointError, ["gp_x must be a"]),
    ("gp_x_huge_claim", set_setting("gp_alpha", [0.0] * 5), CheckpointError, ["gp_x must be a 5 x"]),
    ("gp_theta_short", set_setting("gp_theta", [0.0]), CheckpointError, ["gp_theta must hold"]),
    ("gp_alpha_text", set_setting("gp_alpha", ["a"]), CheckpointError, ["gp_alpha must be a list of numbers"]),
    ("gp_scale_negative", set_setting("gp_scale", -1.0), CheckpointError, ["gp_scale > 0"]),
    ("coef_short", set_setting("coef", [0.0]), CheckpointError, ["linear part must hold"]),
    ("spread_zero", set_setting("spread", [0.0, 0.0, 0.0, 0.0]), CheckpointError, ["spread > 0"]),
    ("counts_out_of_range", set_setting("counts", [99]), CheckpointError, ["do not fit 4 inputs"]),
    (
        "mlp_members_million",
        meta_edit(lambda m: m["settings"]["mlp"].__setitem__("members", 10**6)),
        CheckpointError,
        ["shapes", "settings imply"],
    ),
    ("mlp_missing", meta_edit(lambda m: m["settings"].pop("mlp")), CheckpointError, ["settings lack 'mlp'"]),
]


def _cases() -> list[Any]:
    cases = []
    for kind in ("mlp_ensemble", "gbm", "ridge_gbm", "blend"):
        specific = MLP if kind == "mlp_ensemble" else BLEND if kind == "blend" else BOOSTED
        cases += [pytest.param(kind, *case[1:], id=f"{kind}-{case[0]}") for case in [*COMMON, *specific]]
    return cases


@pytest.mark.parametrize(("kind", "edit", "error", "fragments"), _cases())
def test_damaged_predictor_is_refused_with_a_typed_error(
    saved: dict[str, Path], tmp_path: Path, kind: str, edit: Edit, error: type[NasError], fragments: list[str]
) -> None:
    folder = _copy(saved, kind, tmp_path)
    assert load_predictor(folder).predict(ROWS[:2]).shape == (2,)  # the copy itself loads
    edit(folder)
    with pytest.raises(NasError) as caught:
        load_predictor(folder)
    check_error(caught.value, error, *fragments)
    assert not (folder / "PWNED").exists()


def test_missing_folder_and_a_file_in_its_place(saved: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(NasError) as caught:
        load_predictor(tmp_path / "nothing")
    check_error(caught.value, CheckpointError, "nothing", "no predictor.json")
    with pytest.raises(NasError) as caught:
        load_predictor(saved["gbm"] / "predictor.json")
    check_error(caught.value, CheckpointError, "no predictor.json")


def test_save_killed_between_its_renames_leaves_the_previous_predictor(saved: dict[str, Path], tmp_path: Path) -> None:
    """The state a kill between "move the old folder aside" and "move the new one in" leaves: the reader finds
    the previous predictor again (``.<name>.retired`` is renamed back)."""
    folder = _copy(saved, "gbm", tmp_path)
    expected = load_predictor(folder).predict(ROWS)
    os.replace(folder, tmp_path / ".gbm.retired")
    assert np.array_equal(load_predictor(folder).predict(ROWS), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gbm"]


def test_cli_refuses_a_damaged_predictor_without_a_traceback(saved: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(saved, "gbm", tmp_path)
    model_edit(lambda text: text[: len(text) // 2])(folder)
    table = tmp_path / "t.csv"
    table.write_text("resolution\n24\n")
    result = run_nas(
        ["predictor", "eval", "--predictor", str(folder), "--table", str(table), "--space", "ofa_mbv3_small"],
        tmp_path,
    )
    check_cli_refusal(result, str(folder))
