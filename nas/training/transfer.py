"""Starting a run from another supernet's weights (``nas train --init-from FILE``): every weight but the
classifier's comes from the file, the classifier starts fresh with the run's number of classes.

The file is a platform supernet file (or training checkpoint, :func:`nas.supernet.checkpoint.load_supernet`) or,
given a published net's name, a once-for-all checkpoint (:func:`nas.supernet.importing.import_published`). Its space
may differ from the run's as long as every non-classifier tensor has the same shape: once-for-all's w1.0 ImageNet
weights load into ``ofa_mbv3_small`` (the same blocks with a stride-1 stem). The classifier is found without
knowing the family: it is every tensor whose shape depends on the number of classes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from nas.supernet.base import Supernet
from nas.supernet.checkpoint import load_supernet
from nas.supernet.importing import import_published
from nas.supernet.registry import create_supernet
from search_spaces import CheckpointError

__all__ = ["classifier_keys", "load_initial_supernet", "transfer_weights"]


def classifier_keys(supernet: Supernet) -> list[str]:
    """State-dict keys of ``supernet`` whose shape depends on its number of classes (the classifier's)."""
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        other = create_supernet(
            supernet.space.name, num_classes=supernet.num_classes + 1, **supernet.constructor_options
        ).state_dict()
    return [key for key, tensor in supernet.state_dict().items() if other[key].shape != tensor.shape]


def load_initial_supernet(path: str | os.PathLike[str], net: str | None = None) -> Supernet:
    """The supernet in ``path``: a platform supernet file, or with ``net`` once-for-all's published ``net``.

    Raises:
        CheckpointError: the file is missing, unreadable or does not match (see the two loaders).
        UnknownNameError: ``net`` is not a published net.
    """
    if not Path(path).is_file():
        state = "is not a file" if Path(path).exists() else "does not exist"
        raise CheckpointError(f"init_from: {path} {state}; expected a supernet file or a once-for-all checkpoint")
    return import_published(path, net) if net else load_supernet(path)


def transfer_weights(source: Supernet, target: Supernet, source_name: str = "the source") -> list[str]:
    """Copy every tensor of ``source`` but the classifier into ``target`` (in place); returns the classifier keys
    left as ``target`` initialized them.

    Raises:
        CheckpointError: a non-classifier tensor of ``target`` is missing from ``source`` or has another shape
            (the first such key is named, with both shapes), or ``source`` holds tensors ``target`` lacks.
    """
    fresh = set(classifier_keys(target))
    theirs = source.state_dict()
    ours = target.state_dict()
    where = f"{source_name} ({source.space.name}) does not fit supernet {target.space.name!r}"
    for key, tensor in ours.items():
        if key in fresh:
            continue
        if key not in theirs:
            raise CheckpointError(f"{where}: it lacks {key} (shape {tuple(tensor.shape)})")
        if theirs[key].shape != tensor.shape:
            raise CheckpointError(
                f"{where}: {key} has shape {tuple(theirs[key].shape)} in the file but {tuple(tensor.shape)} here"
            )
    extra = [key for key in theirs if key not in ours]
    if extra:
        raise CheckpointError(f"{where}: it holds {extra[0]} (shape {tuple(theirs[extra[0]].shape)}), unknown here")
    with torch.no_grad():
        for key, tensor in ours.items():
            if key not in fresh:
                tensor.copy_(theirs[key])
    return sorted(fresh)
