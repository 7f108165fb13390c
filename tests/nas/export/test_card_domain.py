"""Model cards say whether a front row exported from a predicted search lay inside the accuracy predictor's
training domain (the front's ``in_domain`` column)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from nas.data import DataSplits
from nas.export import export_subnet
from tests.nas.export.test_export import FAST, _one_thread, digits, search_run, supernet_path

__all__ = ["_one_thread", "digits", "search_run", "supernet_path"]


def test_card_marks_an_out_of_domain_front_row(
    tmp_path: Path, supernet_path: Path, digits: DataSplits, search_run: Path
) -> None:
    predicted = tmp_path / "predicted-run"
    shutil.copytree(search_run, predicted)
    front = pd.read_csv(predicted / "front.csv")
    front["in_domain"] = [False, *[True] * (len(front) - 1)]
    front.to_csv(predicted / "front.csv", index=False)
    outside = export_subnet(supernet_path, f"{predicted}:0", tmp_path / "outside", ["pytorch"], digits, **FAST)
    assert outside["search"]["in_domain"] is False
    assert "**Out of domain**" in (tmp_path / "outside" / "card.md").read_text()

    plain = export_subnet(supernet_path, f"{search_run}:0", tmp_path / "plain", ["pytorch"], digits, **FAST)
    assert plain["search"]["in_domain"] is None  # a search without a predictor says nothing about a domain
    assert "domain" not in (tmp_path / "plain" / "card.md").read_text().lower()
