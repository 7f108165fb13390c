"""Bad-input corpus: checkpoints. Supernet files (``nas.load_supernet``), training checkpoints (``nas train
--resume``) and exported subnets (``nas.load_subnet``).

Each case must give a ``CheckpointError`` naming the file and what is wrong. Files are read with
``torch.load(weights_only=True)`` and safetensors: a pickle whose ``__reduce__`` would create a marker file is
refused, and the marker never appears."""

from __future__ import annotations

import copy
import io
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import nas
from nas.core.config import parse_config
from nas.core.files import load_torch_file, save_torch_file
from nas.export.formats import FORMATS, load_subnet
from nas.training.config import TrainConfig
from nas.training.trainer import Trainer
from search_spaces import CheckpointError, NasError
from tests.reliability.helpers import check_cli_refusal, check_error, run_nas, tiny_train_config

pytestmark = pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch, on hostile pickles


class Marker:
    """Unpickling this runs ``touch <path>``: the proof that a loader executed pickled code."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.path}",))


def torch_bytes(payload: Any, **options: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def supernet() -> torch.nn.Module:
    return nas.create_supernet("ofa_mbv3_small", num_classes=10)


@pytest.fixture(scope="module")
def payload(supernet: torch.nn.Module) -> dict[str, Any]:
    return supernet.payload()


def _state(payload: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    state = {key: value.clone() for key, value in payload["state_dict"].items()}
    change(state)
    return {**payload, "state_dict": state}


def _first_key(state: dict[str, Any]) -> str:
    return next(iter(state))


def _nan_everywhere(state: dict[str, Any]) -> None:
    for tensor in state.values():
        if tensor.is_floating_point():
            tensor.fill_(float("nan"))


# each case: (id, bytes of the file given the good payload and the marker path, fragments of the message)
SUPERNET_CASES: list[tuple[str, Callable[[dict[str, Any], Path, bytes], bytes], list[str]]] = [
    # malformed / truncated
    ("empty_file", lambda p, m, good: b"", ["corrupt or not a torch file"]),
    ("random_bytes", lambda p, m, good: os.urandom(4096), ["corrupt"]),
    ("cut_to_10_bytes", lambda p, m, good: good[:10], ["corrupt or not a torch file"]),
    ("cut_in_half", lambda p, m, good: good[: len(good) // 2], ["corrupt or not a torch file"]),
    ("last_100_bytes_missing", lambda p, m, good: good[:-100], ["corrupt or not a torch file"]),
    ("zip_without_data", lambda p, m, good: _zip({"archive/nothing": b"x"}), ["corrupt or not a torch file"]),
    ("json_renamed_pt", lambda p, m, good: b'{"format": "nas-supernet"}', ["corrupt"]),
    # wrong type / foreign
    ("a_list", lambda p, m, good: torch_bytes([1, 2]), ["holds a list, expected a dict"]),
    ("plain_tensors", lambda p, m, good: torch_bytes({"w": torch.zeros(2)}), ["is not a supernet file"]),
    ("legacy_format", lambda p, m, good: torch_bytes({"w": 1}, _use_new_zipfile_serialization=False), ["format=None"]),
    ("format_version_99", lambda p, m, good: torch_bytes({**p, "format_version": 99}), ["format_version=99"]),
    ("num_classes_bool", lambda p, m, good: torch_bytes({**p, "num_classes": True}), ["num_classes=True"]),
    ("options_list", lambda p, m, good: torch_bytes({**p, "options": [1]}), ["options=[1]"]),
    ("state_dict_text", lambda p, m, good: torch_bytes({**p, "state_dict": "x"}), ["does not match supernet"]),
    ("state_dict_missing", lambda p, m, good: torch_bytes({k: v for k, v in p.items() if k != "state_dict"}), ["'"]),
    (
        "weight_replaced_by_text",
        lambda p, m, good: torch_bytes(_state(p, lambda s: s.__setitem__(_first_key(s), "x"))),
        ["does not match supernet"],
    ),
    (
        "weight_of_another_shape",
        lambda p, m, good: torch_bytes(_state(p, lambda s: s.__setitem__(_first_key(s), torch.zeros(3)))),
        ["does not match supernet 'ofa_mbv3_small'"],
    ),
    ("option_unknown", lambda p, m, good: torch_bytes({**p, "options": {"zz": 1}}), ["unexpected keyword"]),
    # out of range
    ("num_classes_billion", lambda p, m, good: torch_bytes({**p, "num_classes": 10**9}), ["num_classes=1000000000"]),
    ("num_classes_negative", lambda p, m, good: torch_bytes({**p, "num_classes": -3}), ["num_classes=-3"]),
    ("num_classes_other", lambda p, m, good: torch_bytes({**p, "num_classes": 100}), ["does not match"]),
    ("dropout_negative", lambda p, m, good: torch_bytes({**p, "options": {"dropout": -1.0}}), ["dropout"]),
    ("weights_all_nan", lambda p, m, good: torch_bytes(_state(p, _nan_everywhere)), ["non-finite weights"]),
    # hostile
    ("reduce_payload_torch", lambda p, m, good: torch_bytes({**p, "x": Marker(m)}), ["pickled Python objects"]),
    ("reduce_payload_pickle", lambda p, m, good: pickle.dumps({"format": Marker(m)}), ["corrupt"]),
    ("reduce_payload_protocol_0", lambda p, m, good: pickle.dumps(Marker(m), protocol=0), ["(posix.system)"]),
    ("os_system_reference", lambda p, m, good: torch_bytes({**p, "x": os.system}), ["pickled Python objects"]),
    ("supernet_name_traversal", lambda p, m, good: torch_bytes({**p, "supernet": "../../etc"}), ["'../../etc'"]),
    ("supernet_name_list", lambda p, m, good: torch_bytes({**p, "supernet": ["ofa_mbv3_small"]}), ["known supernets"]),
]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good_bytes(payload: dict[str, Any]) -> bytes:
    return torch_bytes(payload)


@pytest.mark.parametrize(("make", "fragments"), [c[1:] for c in SUPERNET_CASES], ids=[c[0] for c in SUPERNET_CASES])
def test_bad_supernet_file_is_refused(
    make: Callable[..., bytes], fragments: list[str], payload: dict[str, Any], good_bytes: bytes, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "supernet.pt"
    path.write_bytes(make(payload, marker, good_bytes))
    with pytest.raises(NasError) as caught:
        nas.load_supernet(path)
    check_error(caught.value, CheckpointError, "supernet.pt", *fragments)
    assert not marker.exists(), "a pickled payload ran"


def test_missing_supernet_and_a_folder_in_its_place(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.pt", tmp_path):
        with pytest.raises(NasError) as caught:
            nas.load_supernet(path)
        check_error(caught.value, CheckpointError, "does not exist")


# ---------------------------------------------------------------- training checkpoints (nas train --resume)
@pytest.fixture(scope="module")
def run_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training run folder with one checkpoint (config.yaml, manifest, checkpoints/last.pt)."""
    root = tmp_path_factory.mktemp("train")
    trainer = Trainer.start(parse_config(TrainConfig, tiny_train_config()), "run", root=root, progress=False)
    trainer.save_checkpoint()
    return root / "run"


def _position(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda checkpoint: checkpoint["position"].update(changes)


TRAINING_CASES: list[tuple[str, Callable[[dict[str, Any]], object], list[str]]] = [
    ("position_missing", lambda c: c.pop("position"), ["damaged training checkpoint (KeyError: 'position')"]),
    ("position_text", _position(global_step="x"), ["position must hold the integers"]),
    ("phase_negative", _position(phase_index=-1), ["does not fit this run"]),
    ("phase_99", _position(phase_index=99), ["does not fit this run (1 phases, 3 steps per epoch)"]),
    ("step_million", _position(step_in_epoch=10**6), ["does not fit this run"]),
    ("global_step_inconsistent", _position(global_step=7), ["does not fit this run"]),
    ("rng_missing", lambda c: c.pop("rng"), ["KeyError: 'rng'"]),
    ("python_rng_garbage", lambda c: c["rng"].__setitem__("python", [1, 2]), ["damaged training checkpoint"]),
    ("torch_rng_floats", lambda c: c["rng"].__setitem__("torch", torch.zeros(3)), ["RNG state must be"]),
    ("optimizer_empty", lambda c: c.__setitem__("optimizer", {"state": {}, "param_groups": []}), ["parameter group"]),
    ("optimizer_text", lambda c: c.__setitem__("optimizer", "sgd"), ["damaged training checkpoint"]),
    ("epoch_totals_foreign", lambda c: c.__setitem__("epoch_totals", {"zz": 1}), ["unexpected keyword"]),
    ("teacher_arch_garbage", lambda c: c.update(teacher={"a": torch.zeros(1)}, teacher_arch="{"), ["not valid JSON"]),
    ("other_config", lambda c: c["config"].__setitem__("seed", 5), ["was written with a different config"]),
    ("format_other", lambda c: c.__setitem__("format", "lightning"), ["is not a version-1 training checkpoint"]),
    ("supernet_nan", lambda c: _nan_everywhere(c["supernet_payload"]["state_dict"]), ["non-finite weights"]),
]


@pytest.mark.parametrize(("change", "fragments"), [c[1:] for c in TRAINING_CASES], ids=[c[0] for c in TRAINING_CASES])
def test_damaged_training_checkpoint_is_refused_on_resume(
    change: Callable[[dict[str, Any]], object], fragments: list[str], run_template: Path, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(run_template, tmp_path / "run"))
    checkpoint = copy.deepcopy(load_torch_file(run / "checkpoints" / "last.pt"))
    change(checkpoint)
    save_torch_file(run / "checkpoints" / "last.pt", checkpoint)
    with pytest.raises(NasError) as caught:
        Trainer.resume(run, progress=False)
    check_error(caught.value, CheckpointError, "last.pt", *fragments)


def test_truncated_training_checkpoint_and_config(run_template: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(run_template, tmp_path / "run"))
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:5000])
    with pytest.raises(NasError) as caught:
        Trainer.resume(run, progress=False)
    check_error(caught.value, CheckpointError, "last.pt", "corrupt")
    (run / "config.yaml").write_text("batch_size: [32\n")
    with pytest.raises(NasError) as caught:
        Trainer.resume(run, progress=False)
    check_error(caught.value, nas.ConfigError, "config.yaml is not valid YAML")
    (run / "config.yaml").unlink()
    with pytest.raises(NasError) as caught:
        Trainer.resume(run, progress=False)
    check_error(caught.value, CheckpointError, "is not a training run (no config.yaml)")


# ---------------------------------------------------------------- exported subnets (nas.load_subnet)
@pytest.fixture(scope="module")
def exported(supernet: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    subnet = supernet.extract(supernet.space.smallest()).eval()
    FORMATS["pytorch"].write(subnet, torch.zeros(1, 3, 24, 24), folder)
    assert load_subnet(folder) is not None
    return folder


def _rewrite_weights(folder: Path, metadata: dict[str, str] | None = None, drop: bool = False) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = folder / "model.safetensors"
    with safe_open(str(path), framework="pt") as stream:
        tensors = {key: stream.get_tensor(key) for key in stream.keys()}
        meta = {**(stream.metadata() or {}), **(metadata or {})}
    if drop:
        tensors.pop(next(iter(tensors)))
    save_file(tensors, str(path), meta)


EXPORT_CASES: list[tuple[str, Callable[[Path], object], list[str]]] = [
    ("weights_missing", lambda f: (f / "model.safetensors").unlink(), ["model.safetensors is missing"]),
    ("arch_missing", lambda f: (f / "arch.json").unlink(), ["arch.json is missing"]),
    ("weights_cut", lambda f: _cut(f / "model.safetensors", 64), ["cannot read", "model.safetensors"]),
    ("weights_pickle", lambda f: (f / "model.safetensors").write_bytes(pickle.dumps(Marker(f / "PWNED"))), ["read"]),
    ("arch_not_json", lambda f: (f / "arch.json").write_text("{"), ["cannot read", "arch.json", "not valid JSON"]),
    ("arch_nested", lambda f: (f / "arch.json").write_text("[" * 100_000), ["nested too deeply"]),
    ("arch_other_space", lambda f: _arch_space(f, "nb201"), ["space"]),
    ("arch_bigger_than_weights", lambda f: _larger_arch(f), ["does not fit arch.json"]),
    ("format_other", lambda f: _rewrite_weights(f, {"format": "timm"}), ["is not a nas-subnet v1 file"]),
    ("num_classes_text", lambda f: _rewrite_weights(f, {"num_classes": "ten"}), ["does not fit arch.json"]),
    ("tensor_dropped", lambda f: _rewrite_weights(f, drop=True), ["does not fit arch.json", "Missing key"]),
]


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _arch_space(folder: Path, space: str) -> None:
    arch = nas.get_space(space).smallest()
    (folder / "arch.json").write_text(arch.to_json())


def _larger_arch(folder: Path) -> None:
    (folder / "arch.json").write_text(nas.get_space("ofa_mbv3_small").largest().to_json())


@pytest.mark.parametrize(("change", "fragments"), [c[1:] for c in EXPORT_CASES], ids=[c[0] for c in EXPORT_CASES])
def test_damaged_export_is_refused(
    change: Callable[[Path], object], fragments: list[str], exported: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(exported, tmp_path / "pick"))
    change(folder)
    with pytest.raises(NasError) as caught:
        load_subnet(folder)
    check_error(caught.value, CheckpointError, *fragments)
    assert not (folder / "PWNED").exists()


def test_cli_refuses_a_pickle_payload_without_running_it(payload: dict[str, Any], tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(torch_bytes({**payload, "extra": Marker(marker)}))
    result = run_nas(["eval", "--supernet", str(evil), "--arch", "smallest"], tmp_path)
    check_cli_refusal(result, "evil.pt", "pickled Python objects (posix.system)", "refused for safety")
    assert not marker.exists()
