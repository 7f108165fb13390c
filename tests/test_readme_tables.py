"""The README's benchmark table is what ``benchmarks/readme_tables.py`` renders from ``benchmarks/results/``, so a
stale figure cannot survive a commit; and every results file must have a renderer, so no benchmark goes unshown."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tables() -> ModuleType:
    """``benchmarks/readme_tables.py`` loaded by path (``benchmarks/`` is not a package)."""
    return load_script("readme_tables")


def test_readme_table_is_the_rendered_one(tables: ModuleType) -> None:
    _, region, _ = tables.split_readme((ROOT / "README.md").read_text())
    rendered = tables.render()
    assert region == rendered, "README.md's benchmark table is stale: run python benchmarks/readme_tables.py --write"


def test_a_results_file_without_a_renderer_is_refused(tables: ModuleType, tmp_path: Path) -> None:
    for path in tables.RESULTS.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    tables.render(tmp_path)  # the copy renders as the real folder does
    (tmp_path / "unheard_of.json").write_text('{"benchmark": "unheard_of"}\n')
    with pytest.raises(tables.RenderError, match=r"no renderer for unheard_of\.json"):
        tables.render(tmp_path)


def test_a_missing_results_file_is_refused(tables: ModuleType, tmp_path: Path) -> None:
    for path in tables.RESULTS.glob("*.json"):
        if path.name != "extraction.json":
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(tables.RenderError, match=r"extraction needs extraction\.json"):
        tables.render(tmp_path)
