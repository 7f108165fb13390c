"""Importing once-for-all's published ImageNet supernets into this platform's supernet files.

``import_published(path, net)`` reads a published checkpoint (``torch.save({"state_dict": ...})`` or a bare state
dict, loaded with ``weights_only=True``), accepts the ``module.`` prefix of data-parallel training and the
pre-November-2020 key style (``blocks.N.mobile_inverted_conv.``), checks that its keys and shapes are exactly those
of the net's supernet, and loads the weights. Any mismatch is one :class:`~search_spaces.CheckpointError` naming
the first offending key (with both shapes) and, where another published net matches the file, that net; nothing is
written before the whole file has been checked.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from nas.core.files import load_torch_file
from nas.supernet.base import Supernet
from nas.supernet.published import PublishedNet
from nas.supernet.registry import create_supernet, list_published, published_net
from search_spaces import CheckpointError

__all__ = ["import_ofa", "import_published", "read_published_state"]

_DATA_PARALLEL_PREFIX = "module."
_LEGACY_BLOCK = ".mobile_inverted_conv."


def read_published_state(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """The state dict of a published checkpoint in the current key style (no ``module.``, ``.conv.`` blocks)."""
    payload = load_torch_file(path, "once-for-all checkpoint")
    state = payload["state_dict"] if "state_dict" in payload else payload
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"once-for-all checkpoint {path} holds no state dict (keys: {_first(payload)})")
    rewritten: dict[str, Tensor] = {}
    for key, tensor in state.items():
        if not isinstance(key, str) or not isinstance(tensor, Tensor):
            raise CheckpointError(f"once-for-all checkpoint {path}: entry {key!r} is not a tensor")
        name = key.removeprefix(_DATA_PARALLEL_PREFIX)
        if name.startswith("blocks.") and _LEGACY_BLOCK in name:
            name = name.replace(_LEGACY_BLOCK, ".conv.", 1)
        rewritten[name] = tensor
    return rewritten


def import_published(path: str | os.PathLike[str], net: str) -> Supernet:
    """The supernet of published net ``net`` holding the weights of the checkpoint at ``path``.

    Raises:
        UnknownNameError: ``net`` is not a published net a family imports (the error lists them).
        CheckpointError: the file is unreadable, or a key is missing or extra, or a shape differs.
    """
    spec = published_net(net)
    state = read_published_state(path)
    supernet = create_supernet(spec.space, spec.num_classes, **spec.options)
    mismatch = _first_mismatch(spec, state, _expected_shapes(supernet, spec))
    if mismatch is not None:
        hint = _matching_net(state, excluding=net)
        raise CheckpointError(
            f"{path} is not once-for-all's {net}: {mismatch}"
            + (f"; the file matches {hint} (use --net {hint})" if hint else "")
        )
    theirs = {spec.checkpoint_key(key): key for key in supernet.state_dict()}
    with torch.no_grad():
        supernet.load_state_dict({theirs[key]: tensor for key, tensor in state.items()}, strict=True)
    for key, tensor in supernet.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{path} holds non-finite weights (NaN or inf) in {spec.checkpoint_key(key)}")
    return supernet


def import_ofa(path: str | os.PathLike[str], net: str, out: str | os.PathLike[str]) -> Supernet:
    """Import ``path`` as published net ``net`` and write the supernet file ``out`` (atomically, only if the whole
    checkpoint matched); returns the supernet."""
    supernet = import_published(path, net)
    supernet.save(Path(out))
    return supernet


def _expected_shapes(supernet: Supernet, spec: PublishedNet) -> dict[str, tuple[int, ...]]:
    return {spec.checkpoint_key(key): tuple(tensor.shape) for key, tensor in supernet.state_dict().items()}


def _first_mismatch(spec: PublishedNet, state: dict[str, Tensor], expected: dict[str, tuple[int, ...]]) -> str | None:
    """The first key missing from the file, extra in it, or of another shape; None when all match."""
    for key, shape in expected.items():
        if key not in state:
            return f"key {key} (shape {list(shape)}) is missing from the file"
    for key, tensor in state.items():
        if key not in expected:
            return f"the file has key {key} (shape {list(tensor.shape)}), which {spec.name} does not"
        if tuple(tensor.shape) != expected[key]:
            return f"key {key} has shape {list(tensor.shape)} in the file, {list(expected[key])} in {spec.name}"
    return None


def _matching_net(state: dict[str, Tensor], excluding: str) -> str | None:
    """Another published net whose keys and shapes the file matches (built on the meta device: no weights)."""
    for name in list_published():
        if name == excluding:
            continue
        spec = published_net(name)
        with torch.device("meta"):
            supernet = create_supernet(spec.space, spec.num_classes, **spec.options)
        if _first_mismatch(spec, state, _expected_shapes(supernet, spec)) is None:
            return name
    return None


def _first(payload: dict[str, object]) -> str:
    keys = [str(key) for key in list(payload)[:5]]
    return ", ".join(keys) if keys else "none"
