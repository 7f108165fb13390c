"""Safe loading and atomic writing, checked over the library's source code: every ``torch.load`` passes
``weights_only=True``, nothing unpickles except CIFAR-10's restricted array unpickler, YAML goes through a safe
loader, nothing is evaluated, and files are written through the atomic writers (or into a staging folder that is
renamed into place, or appended to a log whose torn tail the reader drops)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest
import yaml

from tests.conftest import REPO_ROOT

PACKAGES = ("nas", "predictors", "search_spaces")

# Writes that are not the atomic writers, each with the reason it is safe. Key: (file, call, enclosing function).
ALLOWED_WRITES = {
    ("search_spaces/atomic.py", "fdopen", "atomic_write_bytes"): "the atomic writer itself (temp file + rename)",
    ("nas/training/run_log.py", "open", "append_metrics"): "append-only log, cut back to whole rows on resume",
    ("nas/training/evaluation.py", "open", "put"): "append-only cache; a torn line is skipped on reading",
    ("predictors/base.py", "write_text", "save"): "written into a staging folder renamed into place",
    ("predictors/mlp.py", "save_file", "_write_extra"): "written into the predictor's staging folder",
    ("nas/export/formats.py", "save_file", "_write_pytorch"): "written into the export's staging folder",
    ("nas/export/formats.py", "save", "_write_torchscript"): "written into the export's staging folder",
    ("nas/export/formats.py", "save", "_write_pt2"): "written into the export's staging folder",
    ("nas/export/formats.py", "export", "_write_onnx"): "written into the export's staging folder",
    ("nas/export/timm_format.py", "save_file", "write_timm"): "written into the export's staging folder",
    ("nas/search/journal.py", "open", "_cut_torn_tail"): "cuts a torn last line off the append-only study journal",
}
IN_MEMORY = {"buffer", "stream"}  # io.BytesIO / StringIO objects handed on to the atomic writer
WRITE_CALLS = {"write_text", "write_bytes", "to_csv", "to_parquet", "to_json", "savefig", "save_file", "dump"}


def source_files() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            yield str(path.relative_to(REPO_ROOT)), ast.parse(path.read_text(), filename=str(path))


def calls(tree: ast.Module) -> Iterator[tuple[ast.Call, str, str]]:
    """Every call with the name it is made through (``torch.load`` -> ``load``, owner ``torch``) and the name of
    the function around it."""

    def walk(node: ast.AST, function: str) -> Iterator[tuple[ast.Call, str, str]]:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
            if isinstance(child, ast.Call):
                yield child, _dotted(child.func), inner
            yield from walk(child, inner)

    yield from walk(tree, "<module>")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_torch_load_is_weights_only() -> None:
    found = 0
    for file, tree in source_files():
        for call, name, _ in calls(tree):
            if name == "torch.load":
                found += 1
                value = _keyword(call, "weights_only")
                assert isinstance(value, ast.Constant) and value.value is True, f"{file}:{call.lineno}"
    assert found >= 1  # nas/core/files.py's load_torch_file


def test_nothing_unpickles_or_evaluates() -> None:
    refused = {"pickle.load", "pickle.loads", "eval", "exec", "yaml.unsafe_load", "yaml.full_load", "marshal.loads"}
    for file, tree in source_files():
        for call, name, _ in calls(tree):
            assert name not in refused, f"{file}:{call.lineno} calls {name}"
            assert name != "pickle.Unpickler", f"{file}:{call.lineno} unpickles"
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {_dotted(base) for base in node.bases}
                if "pickle.Unpickler" in bases:  # only the CIFAR-10 reader, which allows numpy globals alone
                    assert (file, node.name) == ("nas/data/unpickler.py", "_ArrayUnpickler"), f"{file}: {node.name}"


def test_yaml_is_read_with_a_safe_loader() -> None:
    from nas.core.config import _UniqueKeyLoader

    assert issubclass(_UniqueKeyLoader, yaml.SafeLoader)
    for file, tree in source_files():
        for call, name, _ in calls(tree):
            if name == "yaml.load":
                loader = _keyword(call, "Loader")
                assert isinstance(loader, ast.Name) and loader.id in {"_UniqueKeyLoader", "SafeLoader"}, (
                    f"{file}:{call.lineno}"
                )


def _write_call(call: ast.Call, name: str) -> str | None:
    """The kind of file write ``call`` makes (its method name), or None when it writes no file: a write helper
    whose target is an in-memory ``buffer`` or that returns the text (``to_csv()`` without a path)."""
    method = name.rsplit(".", 1)[-1]
    if method in ("open", "fdopen"):
        mode = call.args[1] if len(call.args) > 1 else _keyword(call, "mode")
        return method if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+") else None
    if name == "torch.onnx.export":
        target = call.args[2] if len(call.args) > 2 else _keyword(call, "f")
    elif name in ("torch.save", "torch.jit.save", "torch.export.save"):
        target = call.args[1] if len(call.args) > 1 else _keyword(call, "f")
    elif method in WRITE_CALLS and method != "dump":
        target = call.args[0] if call.args else _keyword(call, "path")
        if method in ("save_file",):
            target = call.args[1] if len(call.args) > 1 else None
    else:
        return None
    if target is None or (isinstance(target, ast.Name) and target.id in IN_MEMORY):
        return None
    return method


def test_files_are_written_atomically() -> None:
    """Plain ``open(..., "w"/"a")`` and the write helpers of pathlib, pandas, matplotlib, safetensors and torch
    appear only in the allowed places; everything else hands bytes to ``search_spaces.atomic``."""
    unexpected = []
    for file, tree in source_files():
        for call, name, function in calls(tree):
            method = _write_call(call, name)
            if method is not None and (file, method, function) not in ALLOWED_WRITES:
                unexpected.append(f"{file}:{call.lineno} {name} in {function}")
    assert not unexpected, "non-atomic writes:\n" + "\n".join(unexpected)


@pytest.mark.parametrize("key", sorted(ALLOWED_WRITES))
def test_each_allowed_write_still_exists(key: tuple[str, str, str]) -> None:
    """The allow-list does not outlive the code it excuses."""
    file, method, function = key
    tree = ast.parse((REPO_ROOT / file).read_text())
    assert any(fn == function and _write_call(call, name) == method for call, name, fn in calls(tree)), key
