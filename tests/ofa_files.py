"""once-for-all's published-checkpoint stand-ins for tests: the synthetic checkpoints, inputs and golden logits that
ship beside the project (``../shared/tools/ofa_synthetic_checkpoint.py``, ``../shared/benchdata/ofa_import/``)."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from torch import Tensor

from tests.conftest import BENCHDATA

__all__ = ["golden_logits", "ofa_specs", "synthetic_inputs", "write_synthetic_checkpoint"]

IMPORT_DATA = BENCHDATA / "ofa_import"
TOOL = BENCHDATA.parent / "tools" / "ofa_synthetic_checkpoint.py"


@cache
def _tool() -> ModuleType:
    if not TOOL.is_file():
        pytest.fail(f"the synthetic checkpoint tool is not at {TOOL}; it ships beside the project in ../shared")
    spec = importlib.util.spec_from_file_location("ofa_synthetic_checkpoint", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_synthetic_checkpoint(
    net: str, path: Path, *, legacy_keys: bool = False, bare: bool = False, prefix: str = ""
) -> Path:
    """Write ``net``'s synthetic checkpoint in the published layout (or a bare / ``module.``-prefixed one)."""
    state = {prefix + key: value for key, value in _tool().synthetic_state_dict(net, legacy_keys).items()}
    torch.save(state if bare else {"state_dict": state, "epoch": 0}, path)
    return path


def synthetic_inputs(resolution: int) -> Tensor:
    """The float64 images (batch 2) the golden logits were computed on."""
    return _tool().synthetic_inputs(resolution)


def ofa_specs(net: str) -> list[dict[str, Any]]:
    """The 8 subnet specs of ``net`` as once-for-all's tools wrote them."""
    return json.loads((IMPORT_DATA / f"{net}.configs.json").read_text())


def golden_logits(net: str) -> list[Tensor]:
    """The float64 logits the original once-for-all code computed for each spec."""
    from safetensors.torch import load_file

    golden = load_file(str(IMPORT_DATA / f"{net}.golden.safetensors"))
    return [golden[f"config{index}"] for index in range(len(golden))]
