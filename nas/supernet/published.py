"""Published supernets a family can import: once-for-all's ImageNet checkpoints and the keys they use.

A family lists the published nets its supernets can load (:attr:`nas.supernet.registry.Family.published`); each
:class:`PublishedNet` names its space and how every key of the family's supernet state dict is spelt in the
published file. ``nas.supernet.importing`` reads such a file and checks it against that mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["PublishedNet"]


@dataclass(frozen=True)
class PublishedNet:
    """A published checkpoint that loads into one space's supernet.

    Attributes:
        name: the published name (``ofa_mbv3_d234_e346_k357_w1.0``), what ``nas import ofa --net`` takes.
        space: the registered space whose supernet holds its weights.
        checkpoint_key: our supernet state-dict key -> the key in the published file (the current key style;
            the importer rewrites older styles before comparing).
        num_classes: the classifier's outputs in the published file.
        options: constructor options of the supernet that match the published network (dropout, ...).
    """

    name: str
    space: str
    checkpoint_key: Callable[[str], str]
    num_classes: int = 1000
    options: dict[str, Any] = field(default_factory=dict)
