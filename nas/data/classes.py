"""Keeping some classes of a data set (``--classes 5-9``): which class names a selection text stands for, and the
splits reduced to those classes, relabelled ``0 .. k-1`` in the order given.

The kept images are those the whole data set's splits hold (the same stratified split) and stay normalized as the
whole data set was, so two disjoint selections of one data set (digits 0-4 and 5-9) share their preprocessing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

import torch

from nas.data.datasets import DataSplits, TensorImageDataset
from search_spaces.errors import ConfigError

__all__ = ["parse_class_selection", "select_classes"]

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_class_selection(text: str) -> list[str]:
    """Class names from ``"5-9"``, ``"0,2,4"`` or ``"cat,dog"`` (ranges of integer names are expanded).

    Raises:
        ConfigError: an empty item, a descending range or a name given twice.
    """
    names: list[str] = []
    for item in (part.strip() for part in str(text).split(",")):
        match = _RANGE.match(item)
        if match:
            low, high = int(match.group(1)), int(match.group(2))
            if low > high:
                raise ConfigError(
                    f"classes: range {item!r} runs downwards",
                    field="classes",
                    value=text,
                    allowed="LOW-HIGH, LOW<=HIGH",
                )
            names.extend(str(value) for value in range(low, high + 1))
        elif item:
            names.append(item)
        else:
            raise ConfigError(
                f"classes: {text!r} has an empty item",
                field="classes",
                value=text,
                allowed="names or ranges, comma-separated",
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"classes: {repeated[0]!r} is selected twice in {text!r}", field="classes", value=text)
    return names


def select_classes(data: DataSplits, classes: Sequence[str]) -> DataSplits:
    """``data`` with only the images of ``classes`` (class names), relabelled by their position in ``classes``.

    Raises:
        ConfigError: fewer than 2 classes, a name twice, or a name the data set does not have.
    """
    names = [str(name) for name in classes]
    if len(names) < 2:
        raise ConfigError(
            f"classes: select at least 2 classes, got {names}",
            field="classes",
            value=names,
            allowed=list(data.class_names),
        )
    for name in names:
        if name not in data.class_names:
            raise ConfigError(
                f"classes: {data.name} has no class {name!r}",
                field="classes",
                value=name,
                allowed=list(data.class_names),
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"classes: a class is selected twice in {names}", field="classes", value=names)
    new_label = torch.full((len(data.class_names),), -1, dtype=torch.int64)
    for position, name in enumerate(names):
        new_label[data.class_names.index(name)] = position

    def reduced(split: TensorImageDataset) -> TensorImageDataset:
        labels = new_label[split.labels]
        keep = labels >= 0
        return TensorImageDataset(split.images[keep], labels[keep], split.mean, split.std)

    return replace(
        data,
        train=reduced(data.train),
        val=reduced(data.val),
        test=reduced(data.test),
        num_classes=len(names),
        class_names=tuple(names),
    )
