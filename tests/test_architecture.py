"""The package's layers (docs/architecture.md): no import circle, and every import points to the
module's own layer or a lower one. Imports are read from the sources (ast), function-level ones
included, so a lazy import cannot hide a circle."""

import ast
import re
import shutil
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "workflow" / "zsc"
ARCHITECTURE = REPO / "docs" / "architecture.md"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that `path` (module `name`) imports anywhere in its body. Importing a
    module also runs its packages' __init__ (but for the packages `name` itself is in)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                source = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # a submodule, where it is one
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    targets = set()
    for target in found & modules:
        parents = {".".join(target.split(".")[:i]) for i in range(1, target.count(".") + 1)}
        targets |= {target} | (parents & modules) - own
    return targets - {name}


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports, for every module under `root` (a package)."""
    paths = {module_name(path, root): path for path in root.rglob("*.py")}
    return {name: imports(path, name, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: every strongly connected set of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layers(text: str) -> list[tuple[str, list[str]]]:
    """(name, module patterns) of each layer, lowest first, from docs/architecture.md's numbered list."""
    return [
        (name, [m.strip() for m in modules.split(",")])
        for name, modules in re.findall(r"^\d+\. \*\*([^*]+)\*\*: (.+)$", text, flags=re.M)
    ]


def layer_of(module: str, layers_: list[tuple[str, list[str]]]) -> int | None:
    for i, (_, patterns) in enumerate(layers_):
        for pattern in patterns:
            if pattern.endswith(".*") and (module == pattern[:-2] or module.startswith(pattern[:-1])):
                return i
            if pattern.endswith("_*") and module.startswith(pattern[:-1]):
                return i
            if module == pattern:
                return i
    return None


def upward_imports(graph: dict[str, set[str]], layers_) -> list[str]:
    """'module (layer) -> module (layer)' for every import of a higher layer."""
    names = [name for name, _ in layers_]
    return [
        f"{module} ({names[layer_of(module, layers_)]}) -> {target} ({names[layer_of(target, layers_)]})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target, layers_) > layer_of(module, layers_)
    ]


@pytest.fixture(scope="module")
def layered():
    return layers(ARCHITECTURE.read_text())


def test_the_package_has_no_import_circle():
    assert cycles(import_graph(PACKAGE)) == []


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower_layers(layered):
    graph = import_graph(PACKAGE)
    assert [name for name, _ in layered][:2] == ["vocabulary", "foundations"]
    assert sorted(m for m in graph if layer_of(m, layered) is None) == []  # docs/architecture.md lists them all
    assert upward_imports(graph, layered) == []


def test_no_registry_or_stage_module_imports_the_config_or_the_outputs(layered):
    below = {name for name, _ in layered[: [name for name, _ in layered].index("dag") + 1]}
    graph = import_graph(PACKAGE)
    offending = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        if [name for name, _ in layered][layer_of(module, layered)] in below
        for target in targets
        if target.split(".")[:2] in (["zsc", "config"], ["zsc", "outputs"])
    ]
    assert offending == []


def test_the_vocabulary_imports_nothing_of_the_package():
    assert import_graph(PACKAGE)["zsc.vocabulary"] == set()


def test_a_circle_or_an_upward_import_is_found(tmp_path, layered):
    """The checks on a copy of the package with a circle (a function-level import from the vocabulary
    up into the config, which imports the vocabulary) and an upward import (a clusterer reading the
    outputs inside a function)."""
    copy = tmp_path / "zsc"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "vocabulary.py").open("a") as f:
        f.write("\n\ndef _late():\n    from .config import Config\n\n    return Config\n")
    with (copy / "clusterers.py").open("a") as f:
        f.write("\n\ndef _outputs():\n    from .outputs import OUTPUTS\n\n    return OUTPUTS\n")
    graph = import_graph(copy)
    circles = cycles(graph)
    assert any({"zsc.vocabulary", "zsc.config", "zsc.config.loaded_config"} <= set(circle) for circle in circles)
    upward = upward_imports(graph, layered)
    assert "zsc.clusterers (method registries) -> zsc.outputs (outputs)" in upward
    assert "zsc.vocabulary (vocabulary) -> zsc.config (config)" in upward
