"""The ``timm`` export format: a static subnet as a native timm model, in the export's ``timm/`` folder.

The subnet's family describes it as a timm class (its ``timm_export`` hook, a
:class:`~nas.supernet.timm_model.TimmModelSpec`); the folder then holds ``model.safetensors`` (the weights under
timm's key names), ``config.json`` (the class, its JSON constructor options, what timm's constructors cannot set,
the space and arch, and a timm ``pretrained_cfg`` of the export's evaluation preprocessing) and ``load_timm.py``,
a verbatim copy of :mod:`nas.export.timm_loader`, which rebuilds the model with torch, timm and safetensors only.
The export's parity check loads the files with that loader after checking the copy byte for byte, so the loader a
user reads is the one tested. The files sit in a folder of their own because the ``pytorch`` format's weights are
also ``model.safetensors``; the folder is self-contained.
"""

from __future__ import annotations

import importlib
import math
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import Tensor, nn

from nas.data.preprocessing import Preprocessing
from nas.supernet.registry import Family, family_of
from nas.supernet.timm_model import TIMM_FORMAT, TIMM_FORMAT_VERSION, TimmModelSpec
from search_spaces import CheckpointError, ConfigError, SearchSpace, get_space
from search_spaces.atomic import atomic_write_json

__all__ = [
    "TIMM_CONFIG_FILE",
    "TIMM_FILES",
    "TIMM_FOLDER",
    "TIMM_LOADER_FILE",
    "check_timm",
    "load_timm_export",
    "load_written_timm",
    "pretrained_cfg",
    "timm_spec",
    "write_timm",
]

TIMM_FOLDER = "timm"
TIMM_WEIGHTS_FILE = "model.safetensors"
TIMM_CONFIG_FILE = "config.json"
TIMM_LOADER_FILE = "load_timm.py"
TIMM_FILES = tuple(f"{TIMM_FOLDER}/{name}" for name in (TIMM_WEIGHTS_FILE, TIMM_CONFIG_FILE, TIMM_LOADER_FILE))
"""The files the format writes, relative to the export folder."""
_LOADER_SOURCE = Path(__file__).with_name("timm_loader.py")
_CROP_DECIMALS = 4


def check_timm(space: SearchSpace) -> Family:
    """The family whose ``timm_export`` describes ``space``'s subnets; ConfigError naming the family and why when
    there is none."""
    family = family_of(space)
    if family is None or family.timm_export is None:
        who = "no network family builds it" if family is None else f"family {family.name!r}"
        why = family.timm_note if family is not None and family.timm_note else "it has no timm form"
        raise ConfigError(
            f"format 'timm' cannot write subnets of space {space.name!r} ({who}): {why}",
            field="format",
            value="timm",
        )
    return family


def timm_spec(subnet: nn.Module) -> TimmModelSpec:
    """A static subnet (carrying ``space_name`` and ``arch``) as its family's timm model."""
    model: Any = subnet
    space = get_space(model.space_name)
    export = check_timm(space).timm_export
    assert export is not None
    return export(space, model.arch, subnet)


def _crop_pct(resolution: int, side: int) -> float:
    """The crop fraction with which timm's evaluation transform resizes the shorter side to ``side`` before its
    centre crop of ``resolution`` (timm resizes to ``floor(resolution / crop_pct)``): ``resolution / side``
    rounded down to 4 decimals, or exactly where that misses."""
    pct = math.floor(resolution * 10**_CROP_DECIMALS / side) / 10**_CROP_DECIMALS
    return pct if math.floor(resolution / pct) == side else resolution / side


def pretrained_cfg(preprocessing: Preprocessing, num_classes: int) -> dict[str, Any]:
    """timm's ``pretrained_cfg`` for ``preprocessing``: ``timm.data.create_transform(**resolve_data_config(...))``
    then prepares an image as the export's evaluation did (centre mode: shorter side resized, centre crop;
    squash mode with ``crop_pct`` 1: the image stretched whole to the input size)."""
    size = preprocessing.resolution
    if preprocessing.resize_side is None:
        crop_pct, crop_mode = 1.0, "squash"
    else:
        crop_pct, crop_mode = _crop_pct(size, preprocessing.resize_side), "center"
    return {
        "input_size": [3, size, size],
        "mean": list(preprocessing.mean),
        "std": list(preprocessing.std),
        "interpolation": preprocessing.interpolation,
        "crop_pct": crop_pct,
        "crop_mode": crop_mode,
        "num_classes": num_classes,
    }


def write_timm(
    model: nn.Module, example: Tensor, folder: Path, preprocessing: Preprocessing | None = None
) -> dict[str, Any]:
    """Write ``model`` (an eval-mode static subnet) into ``folder/timm/``; return what the card says about it.
    Without ``preprocessing`` the ``pretrained_cfg`` takes inputs as they are: ``example``'s size, no crop, mean 0
    and std 1.

    Raises:
        ConfigError: the subnet's family has no timm form.
    """
    from safetensors.torch import save_file

    subnet: Any = model
    spec = timm_spec(model)
    args = dict(spec.model_args)
    if "num_classes" not in args:
        raise ValueError(f"the timm spec of {subnet.space_name!r} names no num_classes in its model_args")
    if preprocessing is None:
        preprocessing = Preprocessing(int(example.shape[-1]), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    cfg = pretrained_cfg(preprocessing, int(args["num_classes"]))
    config = {
        "format": TIMM_FORMAT,
        "format_version": TIMM_FORMAT_VERSION,
        "timm_class": spec.timm_class,
        "model_args": args,
        "stem_stride": spec.stem_stride,
        "blocks": None if spec.blocks is None else [None if b is None else dict(b) for b in spec.blocks],
        "stem": None if spec.stem is None else dict(spec.stem),
        "bottlenecks": None if spec.bottlenecks is None else [dict(stage) for stage in spec.bottlenecks],
        "num_classes": int(args["num_classes"]),
        "space": subnet.space_name,
        "arch": subnet.arch.to_dict(),
        "pretrained_cfg": cfg,
    }
    target = folder / TIMM_FOLDER
    target.mkdir(exist_ok=True)
    state = {key: value.detach().contiguous() for key, value in spec.state_dict.items()}
    save_file(state, str(target / TIMM_WEIGHTS_FILE), {"format": TIMM_FORMAT})
    atomic_write_json(target / TIMM_CONFIG_FILE, config)
    shutil.copyfile(_LOADER_SOURCE, target / TIMM_LOADER_FILE)
    return {"folder": TIMM_FOLDER, "timm_class": spec.timm_class, "pretrained_cfg": cfg}


def load_timm_export(folder: str | Path) -> nn.Module:
    """The timm model of an export (``folder``: the export folder or its ``timm/`` folder), rebuilt by
    :func:`nas.export.timm_loader.load_timm_model` (strict load, eval mode). Nothing in the folder is executed: the
    shipped ``load_timm.py`` is for users without this platform.

    Raises:
        CheckpointError: the folder holds no timm export, or one whose files do not fit together.
    """
    source = Path(folder)
    if not (source / TIMM_CONFIG_FILE).is_file():
        source = source / TIMM_FOLDER
    for name in (TIMM_CONFIG_FILE, TIMM_WEIGHTS_FILE):
        if not (source / name).is_file():
            raise CheckpointError(f"{folder} holds no timm export: {TIMM_FOLDER}/{name} is missing")
    try:
        return _loader().load_timm_model(source)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(
            f"cannot rebuild the timm model in {source}: {' '.join(str(exc).split())[:300]}"
        ) from None


def load_written_timm(folder: Path) -> nn.Module:
    """:func:`load_timm_export` of a folder just written, after checking that its ``load_timm.py`` is this loader's
    source byte for byte (so the parity check vouches for the file a user runs)."""
    shipped = folder / TIMM_FOLDER / TIMM_LOADER_FILE
    if not shipped.is_file() or shipped.read_bytes() != _LOADER_SOURCE.read_bytes():
        raise CheckpointError(f"{shipped} is not a copy of {_LOADER_SOURCE.name}")
    return load_timm_export(folder)


def _loader() -> ModuleType:
    """:mod:`nas.export.timm_loader`, imported on first use: it imports timm, which importing the platform does not."""
    return importlib.import_module("nas.export.timm_loader")
