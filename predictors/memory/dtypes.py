"""Dtype names the memory estimates accept (``"float16"``, ``"bf16"``, ``torch.int8``, ...), resolved to one torch
dtype so that every estimate takes the same spellings and reports the same canonical name."""

from __future__ import annotations

import torch

from search_spaces.errors import ConfigError, describe_choices

__all__ = ["DTYPES", "dtype_name", "resolve_dtype"]

DTYPES: dict[str, torch.dtype] = {
    "float64": torch.float64,
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_DTYPE_ALIASES = {"fp64": "float64", "fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def resolve_dtype(dtype: str | torch.dtype, field: str = "dtype") -> torch.dtype:
    """The torch dtype for a name (``"float16"``, ``"bf16"``, ...) or a torch dtype; ConfigError otherwise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if isinstance(dtype, str):
        name = _DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
        if name in DTYPES:
            return DTYPES[name]
    allowed = [*DTYPES, *_DTYPE_ALIASES]
    raise ConfigError(
        f"{field} must be a torch.dtype or one of {describe_choices(allowed)}, got {dtype!r}",
        field=field,
        value=dtype,
        allowed=allowed,
    )


def dtype_name(dtype: str | torch.dtype) -> str:
    """Canonical name of a dtype: ``torch.float32`` and ``"fp32"`` both give ``"float32"``."""
    return str(resolve_dtype(dtype)).removeprefix("torch.")
