"""The design, checked: imports only point down (import-linter's contracts in pyproject.toml), no module import
cycle, imports inside functions only for heavy optional dependencies, and no code outside a family's own modules
names the family (its classes, its spaces' names, or attributes only its classes have)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports
from torch import nn

import nas
from nas.supernet.base import Supernet
from nas.supernet.costs import CostModel
from nas.supernet.parts import PartModel
from nas.supernet.registry import FAMILIES
from search_spaces import SearchSpace, list_spaces
from search_spaces.base import StagedSpace
from tests.conftest import REPO_ROOT

PACKAGES = ("nas", "search_spaces", "predictors")

HEAVY_OPTIONAL = {"ray", "onnxruntime", "onnx", "onnxscript", "lightgbm", "matplotlib", "tensorboard", "sklearn", "PIL"}
HEAVY_OPTIONAL |= {"grpc", "timm", "safetensors", "torch.utils.tensorboard"}
"""What may be imported inside a function: heavy, optional or slow-to-import dependencies."""

OWN_MODULES = {
    "mobilenetv3": ("nas.supernet.families.mobilenetv3", "search_spaces.ofa_mbv3"),
    "proxyless": ("nas.supernet.families.proxyless", "search_spaces.ofa_proxyless"),
    "resnet": ("nas.supernet.families.resnet", "search_spaces.ofa_resnet"),
    "spiking": (
        "nas.supernet.families.spiking",
        "search_spaces.spiking",
        "nas.spiking",  # the spiking families' evaluation procedures and conversion
        "nas.cli.spiking",  # `nas spiking report | check | convert`
        "nas.quickstart.spiking",  # `nas quickstart --spiking`
    ),
    "vit": ("nas.supernet.families.vit", "search_spaces.autoformer"),
    "nb201": ("search_spaces.nb201",),  # a table-backed space without a supernet family
    "timm_blocks": ("nas.supernet.families.timm_blocks", "search_spaces.timm_blocks"),
}
"""The modules each family (and each space without one) owns: the only code that may name it."""
OWN_MODULES["qcfs"] = OWN_MODULES["spiking"]  # the QCFS family shares the spiking ResNet's code

REGISTRATION = ("nas.supernet.families", "search_spaces", "nas.quickstart")
"""Package ``__init__`` modules that import the families to register them or export their public names."""


def _module_files() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def test_import_linter_contracts_hold() -> None:
    assert lint_imports(str(REPO_ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles = [sorted(group) for group in _strongly_connected(graph) if len(group) > 1]
    assert not cycles, f"import cycles: {cycles}"


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph has hundreds of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def test_imports_inside_functions_are_only_heavy_optional_dependencies() -> None:
    found = []
    for _module, path in _module_files():
        tree = ast.parse(path.read_text())
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                if names and not all(_heavy(name) for name in names):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {ast.unparse(node)}")
    assert not found, "imports inside functions of light or first-party modules:\n" + "\n".join(found)


def _heavy(module: str) -> bool:
    return any(module == heavy or module.startswith(heavy + ".") for heavy in HEAVY_OPTIONAL)


def _owner(module: str) -> set[str]:
    """The families (or spaces) whose own modules include ``module``."""
    return {
        name
        for name, prefixes in OWN_MODULES.items()
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)
    }


def _family_classes() -> dict[str, set[str]]:
    """Every class defined in a family's own modules, by module it is defined in (class names)."""
    classes: dict[str, set[str]] = {}
    for prefixes in OWN_MODULES.values():
        for prefix in prefixes:
            package = importlib.import_module(prefix)
            names = [prefix]
            if hasattr(package, "__path__"):
                names += [info.name for info in pkgutil.walk_packages(package.__path__, prefix + ".")]
            for name in names:
                module = importlib.import_module(name)
                defined = {k for k, v in vars(module).items() if inspect.isclass(v) and v.__module__ == name}
                classes[name] = defined
    return classes


def _family_attributes() -> set[str]:
    """Attributes only family classes have (not the contracts' or torch's): probing them is family dispatch."""
    shared = set()
    for base in (Supernet, SearchSpace, StagedSpace, CostModel, PartModel, nn.Module):
        shared |= set(dir(base))
    own: set[str] = set()
    for family in FAMILIES.names():
        registered = FAMILIES.get(family)
        for space in registered.spaces:
            own |= set(dir(type(nas.get_space(space))))
        own |= set(dir(registered.supernet))
    return {name for name in own - shared if not name.startswith("_")}


def test_no_family_dispatch_outside_the_familys_own_modules() -> None:
    classes = _family_classes()
    class_names = {name for defined in classes.values() for name in defined}
    names = set(list_spaces()) | set(FAMILIES.names())
    attributes = _family_attributes()
    found = []
    for module, path in _module_files():
        if _owner(module):
            continue
        tree = ast.parse(path.read_text())
        where = f"{path.relative_to(REPO_ROOT)}"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and module not in REGISTRATION:
                if _owner(node.module):
                    found.append(f"{where}:{node.lineno} imports {node.module}")
                elif any(alias.name in class_names for alias in node.names):
                    found.append(f"{where}:{node.lineno} imports a family class from {node.module}")
            if isinstance(node, ast.Import) and any(_owner(alias.name) for alias in node.names):
                found.append(f"{where}:{node.lineno} imports a family module")
            if isinstance(node, ast.Compare):
                constants = [c for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                constants += [
                    e for c in node.comparators if isinstance(c, (ast.Tuple, ast.List, ast.Set)) for e in c.elts
                ]
                if any(isinstance(c, ast.Constant) and c.value in names for c in constants):
                    found.append(f"{where}:{node.lineno} compares with a family or space name")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("hasattr", "getattr")
            ):
                attribute = node.args[1] if len(node.args) > 1 else None
                if isinstance(attribute, ast.Constant) and attribute.value in attributes:
                    found.append(f"{where}:{node.lineno} probes the family attribute {attribute.value!r}")
    assert not found, "family dispatch outside the family's modules:\n" + "\n".join(found)


@pytest.mark.parametrize("family", sorted(FAMILIES.names()))
def test_every_family_owns_its_modules(family: str) -> None:
    """The allow-list above covers each registered family's supernet and spaces (a new family adds its line)."""
    registered = FAMILIES.get(family)
    assert _owner(registered.supernet.__module__) >= {family}
    for space in registered.spaces:
        assert family in _owner(type(nas.get_space(space)).__module__)
