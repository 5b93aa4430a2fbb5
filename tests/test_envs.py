"""The per-stage conda environments (envs/*.yaml) hold what their rules' scripts import.

`snakemake --sdm conda` runs each rule's script in the rule's environment, where only the packages
the environment declares are installed: a package missing there fails the job on a fresh machine
(on this one it may even pass unnoticed, since Snakemake's script preamble appends its own
sys.path, so a package of the host's Python can leak into a job of an environment with the same
Python version). So the imports are worked out from the source instead of by running the jobs:

- for each rule with a `script:` (workflow/rules/*.smk), the third-party packages its script
  reaches: the script's imports and, through the zsc functions it calls, theirs, transitively. The
  package defers heavy libraries by importing them inside functions, so a function's imports count
  when the function is reached, and a registry's entries (clusterers, reducers, ...) are all reached
  where the registry builds one (`REGISTRY.build(...)`, `REGISTRY[name].factory`): a config may
  choose any of them, so leidenalg belongs in the cluster environment although only one clusterer
  uses it. Importing a module runs its top level, which is reached too.
- the environment must declare each of them itself (pip names, with the exact version of the lock),
  not through another package's dependencies.

Snakemake itself needs nothing declared: the `snakemake` object a script sees is unpickled by the
preamble Snakemake writes, which appends the host's Snakemake install to sys.path.

The versions: every pinned package of an environment and of pyproject.toml agrees with the lock
file setup.sh installs from (requirements.lock), and the packages whose internals the code relies on
are pinned exactly (see PINNED_INTERNALS).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "zsc"
LOCK = REPO / "requirements.lock"

# Packages whose private code or exact arithmetic the code depends on, so any other version may
# change results or break: zsc.numba_cache patches numba's dispatchers and umap-learn's and
# pynndescent's jitted code (private numba API); zsc.affinity_propagation reproduces scikit-learn's
# AffinityPropagation bit for bit and zsc.clusterers routes sklearn's HDBSCAN by its internals;
# llvmlite is numba's compiler (the machine code numba caches); pacmap is the study's PaCMAP.
PINNED_INTERNALS = ["numba", "llvmlite", "scikit-learn", "umap-learn", "pynndescent", "pacmap"]


# --- What a script reaches --------------------------------------------------------------------


def _module_file(root: Path, name: str) -> Path | None:
    """The file of module `name` under `root` (a package's __init__.py), or None."""
    base = root.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@dataclass
class Module:
    name: str
    is_package: bool
    tree: ast.Module
    defs: dict[str, ast.AST] = field(default_factory=dict)  # top-level functions and classes
    variables: set[str] = field(default_factory=set)  # top-level assigned names
    registries: set[str] = field(default_factory=set)  # variables holding a Registry(...)
    bindings: dict | None = None  # what its top level imports, by name (Reach._module_bindings)


# Packages pandas imports only when a method needs them (its optional dependencies): a call of the
# method reaches the package although no module imports it.
PANDAS_BACKENDS = {
    "read_parquet": "pyarrow",
    "to_parquet": "pyarrow",
    "to_markdown": "tabulate",
    "style": "jinja2",  # DataFrame.style: a Styler, whose to_latex and to_html render with jinja2
}
Unit = tuple  # (module name, None: its top level | top-level def name | registered nested function's id)


class Reach:
    """Third-party packages reached from scripts through the modules of one local package.

    A unit is a module's top level (what importing it runs), one top-level function or class of it
    (with its methods and the functions nested in it), or a registry entry made of a nested function
    (`register(...)(factory)` inside a loop or a helper). Reaching a unit reaches its imports, the
    top level of the local modules it imports, the local functions and classes it names, and every
    entry of a registry it builds."""

    def __init__(self, root: Path, package: str = PACKAGE):
        self.root, self.package = root, package
        self.modules: dict[str, Module | None] = {}
        self._entries: dict[tuple[str, str], set[Unit]] | None = None
        self._nested: dict[Unit, ast.AST] = {}  # registered nested functions, by unit
        self._registered: set[int] = set()  # their ids: not part of the unit they are written in

    # modules
    def module(self, name: str) -> Module | None:
        if name not in self.modules:
            path = _module_file(self.root, name)
            self.modules[name] = None if path is None else self._parse(name, path)
        return self.modules[name]

    def _parse(self, name: str, path: Path) -> Module:
        tree = ast.parse(path.read_text(), str(path))
        module = Module(name, path.name == "__init__.py", tree)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                module.defs[node.name] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = {t.id for target in targets for t in ast.walk(target) if isinstance(t, ast.Name)}
                module.variables |= names
                value = node.value
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "Registry":
                    module.registries |= names
        return module

    def _local_modules(self) -> list[str]:
        paths = sorted(self.root.joinpath(self.package).rglob("*.py"))
        return [".".join(p.relative_to(self.root).with_suffix("").parts).removesuffix(".__init__") for p in paths]

    def _absolute(self, module: Module, node: ast.ImportFrom) -> str:
        """The absolute name of a (possibly relative) `from ... import`."""
        if not node.level:
            return node.module or ""
        parts = module.name.split(".")
        if not module.is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        return ".".join(parts + ([node.module] if node.module else []))

    def _local(self, name: str) -> bool:
        return name.split(".")[0] == self.package

    # what a unit runs
    def _walk(self, roots):
        """The nodes of `roots`, without the bodies of registered nested functions (only their
        decorators and defaults run where they are written)."""
        todo = list(roots)
        while todo:
            node = todo.pop()
            yield node
            if id(node) in self._registered:
                todo += [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
            else:
                todo += list(ast.iter_child_nodes(node))

    def _unit_nodes(self, unit: Unit) -> list[ast.AST]:
        module = self.module(unit[0])
        if unit[1] in module.defs:
            return list(self._walk([module.defs[unit[1]]]))
        if unit[1] is not None:  # a registered nested function: its body
            node = self._nested[unit]
            return list(self._walk(node.body if isinstance(node.body, list) else [node.body]))
        roots = []  # what importing the module runs: all but function bodies and methods
        for node in module.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                roots += [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
            elif isinstance(node, ast.ClassDef):
                roots += [*node.decorator_list, *node.bases]
                roots += [n for n in node.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            else:
                roots.append(node)
        return list(self._walk(roots))

    # names
    def _bindings(self, module: Module, nodes) -> tuple[dict, set[str], set[str]]:
        """(name -> target, third-party top-level names, local modules imported) of the import
        statements among `nodes`. A target is ("module", name) or ("attr", module, name)."""
        bindings, third_party, imported = {}, set(), set()
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if self._local(alias.name):
                        imported.add(alias.name)
                        if alias.asname:
                            bindings[alias.asname] = ("module", alias.name)
                        else:
                            bindings[alias.name.split(".")[0]] = ("module", alias.name.split(".")[0])
                    else:
                        third_party.add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                source = self._absolute(module, node)
                if not self._local(source):
                    if source != "__future__":
                        third_party.add(source.split(".")[0])
                    continue
                imported.add(source)
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if self.module(submodule) is not None:
                        imported.add(submodule)
                        bindings[alias.asname or alias.name] = ("module", submodule)
                    else:
                        bindings[alias.asname or alias.name] = ("attr", source, alias.name)
        return bindings, {name for name in third_party if name not in sys.stdlib_module_names}, imported

    def _module_bindings(self, module: Module) -> dict:
        if module.bindings is None:
            module.bindings = self._bindings(module, self._unit_nodes((module.name, None)))[0]
        return module.bindings

    def _resolve(self, module: Module, bindings: dict, expr: ast.AST) -> tuple[str, str] | None:
        """(module, name) where the local function, class or variable an expression names (a Name
        or a chain of attributes on one) is defined, or None."""
        attrs = []
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        if expr.id in bindings:
            target = bindings[expr.id]
        elif expr.id in module.defs or expr.id in module.variables:
            target = ("attr", module.name, expr.id)
        else:
            return None
        for attr in reversed(attrs):
            if target[0] != "module":
                break
            sub = f"{target[1]}.{attr}"
            target = ("module", sub) if self.module(sub) is not None else ("attr", target[1], attr)
        return self._definition(target[1], target[2]) if target[0] == "attr" else None

    def _definition(self, module_name: str, name: str, seen=()) -> tuple[str, str] | None:
        """(module, name) where `name` of `module_name` is defined, following re-exports."""
        module = self.module(module_name)
        if module is None or (module_name, name) in seen:
            return None
        if name in module.defs or name in module.variables:
            return module_name, name
        target = self._module_bindings(module).get(name)
        if target and target[0] == "attr":
            return self._definition(target[1], target[2], (*seen, (module_name, name)))
        return None

    # registries
    def _is_registry(self, found) -> bool:
        return bool(found) and found[1] in self.module(found[0]).registries

    def _registries_named(self, module: Module, bindings: dict, expr: ast.AST, depth: int = 0) -> set[tuple[str, str]]:
        """The registries a decorator's callee adds to: `REGISTRY.add`, or a function whose body
        calls `REGISTRY.add` (e.g. a `register(...)` helper)."""
        if isinstance(expr, ast.Attribute) and expr.attr == "add":
            found = self._resolve(module, bindings, expr.value)
            return {found} if self._is_registry(found) else set()
        found = self._resolve(module, bindings, expr)
        if depth or not found or found[1] not in self.module(found[0]).defs:
            return set()
        owner = self.module(found[0])
        owner_bindings = self._module_bindings(owner)
        return {
            registry
            for node in ast.walk(owner.defs[found[1]])
            if isinstance(node, ast.Attribute)
            for registry in self._registries_named(owner, owner_bindings, node, depth + 1)
        }

    def registry_entries(self) -> dict[tuple[str, str], set[Unit]]:
        """(module, registry variable) -> its entries in every local module: functions decorated
        with `@REGISTRY.add(...)` or a registering helper, or passed to one: `register(...)(fn)`."""
        if self._entries is not None:
            return self._entries
        self._entries = {}
        for name in self._local_modules():
            module = self.module(name)
            bindings = self._module_bindings(module)
            parents = {id(child): node for node in ast.walk(module.tree) for child in ast.iter_child_nodes(node)}

            def outermost(node):  # the top-level statement holding `node`
                while id(node) in parents and parents[id(node)] is not module.tree:
                    node = parents[id(node)]
                return node

            def scope(node):  # the function (or module) whose body holds `node`
                node = parents.get(id(node))
                while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    node = parents.get(id(node))
                return node or module.tree

            registered = []
            for node in ast.walk(module.tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    for decorator in node.decorator_list:
                        callee = decorator.func if isinstance(decorator, ast.Call) else decorator
                        registered += [(registry, node) for registry in self._registries_named(module, bindings, callee)]
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Call):  # register(...)(fn)
                    registries = self._registries_named(module, bindings, node.func.func)
                    named = {arg.id for arg in node.args if isinstance(arg, ast.Name)}
                    defs = [
                        d
                        for d in ast.walk(scope(node))
                        if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef)) and d.name in named
                    ]
                    registered += [(registry, d) for registry in registries for d in defs]
            for registry, node in registered:
                if node in module.tree.body:
                    unit = (name, node.name)
                else:
                    unit = (name, f"{getattr(outermost(node), 'name', '')}.{node.name}@{node.lineno}")
                    self._nested[unit] = node
                    self._registered.add(id(node))
                self._entries.setdefault(registry, set()).add(unit)
        return self._entries

    def _built_registries(self, module: Module, bindings: dict, nodes) -> set[tuple[str, str]]:
        """The registries whose entries `nodes` call: `REGISTRY.build(...)`, `REGISTRY[name].factory`."""
        built = set()
        for node in nodes:
            if isinstance(node, ast.Attribute) and node.attr == "build":
                found = self._resolve(module, bindings, node.value)
            elif isinstance(node, ast.Attribute) and node.attr == "factory" and isinstance(node.value, ast.Subscript):
                found = self._resolve(module, bindings, node.value.value)
            else:
                continue
            if self._is_registry(found):
                built.add(found)
        return built

    def third_party(self, script: Path) -> dict[str, list[str]]:
        """The top-level import names of every third-party package the script reaches, each with
        the chain of units that reaches it first (for the message of a failing test)."""
        self.registry_entries()  # marks the registered nested functions first
        self.modules["__script__"] = self._parse("__script__", script)
        start: Unit = ("__script__", None)
        packages: dict[str, list[str]] = {}
        parent: dict[Unit, Unit | None] = {}
        todo: list[tuple[Unit, Unit | None]] = [(start, None)]
        backends: list[tuple[str, Unit]] = []  # pandas' optional dependencies, and where they are used
        while todo:
            unit, by = todo.pop(0)  # breadth first: the chains shown are the shortest
            if unit in parent:
                continue
            parent[unit] = by
            module = self.module(unit[0])
            nodes = self._unit_nodes(unit)
            bindings, third_party, imported = self._bindings(module, nodes)
            bindings = {**self._module_bindings(module), **bindings}
            backends += [
                (PANDAS_BACKENDS[n.attr], unit) for n in nodes if isinstance(n, ast.Attribute) and n.attr in PANDAS_BACKENDS
            ]
            packages.update({package: self._chain(parent, unit, script) for package in sorted(third_party - set(packages))})
            reached = []
            for name in sorted(imported):  # importing a module runs its top level and its packages'
                parts = name.split(".")
                reached += [(".".join(parts[:i]), None) for i in range(1, len(parts) + 1) if self.module(".".join(parts[:i]))]
            for node in nodes:
                if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
                    found = self._resolve(module, bindings, node)
                    if found:
                        reached.append((found[0], None))
                        if found[1] in self.module(found[0]).defs:
                            reached.append(found)
            for registry in sorted(self._built_registries(module, bindings, nodes)):
                reached += sorted(self.registry_entries().get(registry, ()))
            todo += [(next_unit, unit) for next_unit in reached]
        if "pandas" in packages:
            for package, unit in backends:
                packages.setdefault(package, self._chain(parent, unit, script) + ["pandas"])
        return packages

    @staticmethod
    def _chain(parent: dict, unit: Unit, script: Path) -> list[str]:
        """The units from the script to `unit`, as text."""
        chain = []
        while unit is not None:
            chain.insert(0, ":".join(filter(None, (script.name if unit[0] == "__script__" else unit[0], unit[1]))))
            unit = parent[unit]
        return chain


# --- What is declared ---------------------------------------------------------------------------


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions(import_name: str) -> set[str]:
    """The (canonical) distributions that provide top-level import `import_name` here."""
    found = _packages_distributions().get(import_name)
    assert found, f"{import_name!r} is imported but no installed distribution provides it"
    return {canonicalize_name(name) for name in found}


def rules() -> dict[str, dict[str, Path]]:
    """Rule name -> {"conda": env file, "script": script file} (those it has) of workflow/rules/*.smk."""
    found = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for block in re.split(r"^(?=rule \w+:)", smk.read_text(), flags=re.M)[1:]:
            name = re.match(r"rule (\w+):", block)[1]
            paths = {}
            for key in ("conda", "script"):
                match = re.search(rf'^    {key}:\s*\n\s+"([^"]+)"', block, flags=re.M)
                if match:
                    paths[key] = (smk.parent / match[1]).resolve()
            found[name] = paths
    return found


def env_requirements(path: Path) -> dict[str, Requirement]:
    """The pip requirements of a conda environment file, by canonical name."""
    spec = yaml.safe_load(path.read_text())
    pip = [item for dep in spec["dependencies"] if isinstance(dep, dict) for item in dep.get("pip", [])]
    requirements = [Requirement(line) for line in pip]
    return {canonicalize_name(r.name): r for r in requirements}


def lock_versions() -> dict[str, str]:
    versions = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            versions[canonicalize_name(name)] = version
    return versions


def pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {canonicalize_name(Requirement(line).name): Requirement(line) for line in lines}


REACH = Reach(REPO / "workflow")  # parses each module once for all rules
SCRIPT_RULES = {name: paths for name, paths in rules().items() if "script" in paths}
ENVS = sorted((REPO / "envs").glob("*.yaml"))


# --- Tests -----------------------------------------------------------------------------------


def test_every_stage_with_a_script_runs_in_an_environment():
    assert SCRIPT_RULES, "no rule with a script found in workflow/rules/*.smk"
    assert {"cluster", "embed", "render", "aggregate", "search"} <= set(SCRIPT_RULES)
    for name, paths in SCRIPT_RULES.items():
        assert "conda" in paths, f"rule {name} runs a script but names no conda environment"
        assert paths["conda"].is_file(), f"rule {name}: {paths['conda']} does not exist"
        assert paths["script"].is_file(), f"rule {name}: {paths['script']} does not exist"


@pytest.mark.parametrize("rule", sorted(SCRIPT_RULES))
def test_environment_declares_every_package_the_script_reaches(rule):
    paths = SCRIPT_RULES[rule]
    declared = set(env_requirements(paths["conda"]))
    reached = REACH.third_party(paths["script"])
    missing = [
        f"{'/'.join(sorted(distributions(name)))} (import {name}: {' -> '.join(chain)})"
        for name, chain in sorted(reached.items())
        if not distributions(name) & declared
    ]
    assert not missing, f"rule {rule}: {paths['conda'].relative_to(REPO)} does not declare " + "; ".join(missing)


def test_reach_follows_lazy_imports_and_registries_but_not_unused_functions(tmp_path):
    """The analysis itself, on a package made here: what a script reaches, and what it does not."""
    pkg = tmp_path / "zsc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "registry.py").write_text("class Registry:\n    pass\n")
    (pkg / "methods.py").write_text(
        "import numpy as np\n"
        "from .registry import Registry\n"
        "METHODS = Registry('methods')\n"
        "def method(name):\n"
        "    return METHODS.add(name, '')\n"
        "@METHODS.add('a', '')\n"
        "def a():\n"
        "    import leidenalg\n"
        "@method('b')\n"
        "def b():\n"
        "    from sklearn.cluster import KMeans\n"
        "def describe(name):\n"
        "    return METHODS[name].description\n"
        "def run(name):\n"
        "    from . import helpers\n"
        "    helpers.log(name)\n"
        "    return METHODS.build({'type': name})\n"
        "def unused():\n"
        "    import torch\n"
        "for _name in ['c', 'd']:\n"
        "    def _entry():\n"
        "        import pacmap\n"
        "    method(_name)(_entry)\n"
    )
    (pkg / "helpers.py").write_text("def log(x):\n    import yaml\ndef other():\n    import timm\n")
    run_script = tmp_path / "run.py"
    run_script.write_text("from zsc.methods import run\ndef main(name):\n    run(name)\nmain(snakemake.params.name)\n")
    describe_script = tmp_path / "describe.py"
    describe_script.write_text("from zsc import methods\nprint(methods.describe('a'))\n")

    # building reaches every entry (one through a decorator function, two made in a loop), the
    # helper's lazy import, the module's top level; not the unused function, nor the helper's other
    # function
    reached = Reach(tmp_path).third_party(run_script)
    assert set(reached) == {"numpy", "leidenalg", "sklearn", "pacmap", "yaml"}
    assert reached["yaml"] == ["run.py", "run.py:main", "zsc.methods:run", "zsc.helpers:log"]
    # reading an entry's description runs no entry
    assert set(Reach(tmp_path).third_party(describe_script)) == {"numpy"}


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_environment_pins_agree_with_the_lock(env):
    locked = lock_versions()
    for name, requirement in env_requirements(env).items():
        assert name in locked, f"{env.name}: {requirement} is not in {LOCK.name}"
        assert (
            str(requirement.specifier) == f"=={locked[name]}"
        ), f"{env.name}: {requirement} does not pin the locked version {name}=={locked[name]}"


def test_pyproject_agrees_with_the_lock_and_pins_the_internals_it_relies_on():
    locked = lock_versions()
    requirements = pyproject_requirements()
    for name, requirement in requirements.items():
        assert name in locked, f"pyproject.toml: {requirement} is not in {LOCK.name}"
        assert requirement.specifier.contains(
            locked[name], prereleases=True
        ), f"pyproject.toml: {requirement} excludes the locked {name}=={locked[name]}"
    for name in PINNED_INTERNALS:
        assert name in requirements, f"pyproject.toml does not declare {name}"
        assert (
            str(requirements[name].specifier) == f"=={locked[name]}"
        ), f"pyproject.toml: {requirements[name]} is not =={locked[name]}"


def test_pyproject_declares_every_package_the_code_imports():
    """Directly, as the environments do: the union of what every module and script imports."""
    declared = set(pyproject_requirements())
    imported = set()
    for path in [*(REPO / "workflow" / PACKAGE).rglob("*.py"), *(REPO / "workflow/scripts").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                imported.add(node.module.split(".")[0])
    imported -= {PACKAGE, "__future__", *sys.stdlib_module_names}
    missing = {name: sorted(distributions(name)) for name in sorted(imported) if not distributions(name) & declared}
    assert not missing, f"pyproject.toml lacks {missing}"


def test_lock_is_what_this_machine_runs_and_holds_the_capped_torch():
    """The lock is `pip freeze` of the environment the tests pass in (setup.sh installs from it)."""
    locked = lock_versions()
    assert locked["torch"] == "2.14.1" and locked["torchvision"] == "0.29.1"  # the machine's pip constraint caps them
    assert canonicalize_name(PACKAGE) not in locked  # the project itself is installed editable, not from the lock
    for name in ["torch", "torchvision", *PINNED_INTERNALS, "snakemake", "pygments"]:
        assert importlib.metadata.version(name) == locked[canonicalize_name(name)], f"installed {name} differs from {LOCK.name}"


# --- The study's facts, cited from the code ----------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_study_citations_point_at_sections_of_docs_study_md():
    """Comments cite the study's facts as docs/study.md#<section>, never the design notes outside
    the repository (STUDY.md): every cited section exists."""
    study = (REPO / "docs/study.md").read_text()
    anchors = {_anchor(line.lstrip("#")) for line in study.splitlines() if line.startswith("#")}
    toc = set(re.findall(r"\]\(#([\w\-]+)\)", study))
    assert toc <= anchors, f"docs/study.md: contents links without a heading: {sorted(toc - anchors)}"
    files = [
        REPO / "README.md",
        REPO / "Snakefile",
        *[p for d in ("workflow", "tests", "config", "docs", "profiles", "envs") for p in (REPO / d).rglob("*")],
    ]
    cited, stale = 0, []
    for path in files:
        if path.suffix not in {".py", ".smk", ".md", ".yaml", ".rst", ""} or not path.is_file() or path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        if "STUDY.md" in text:
            stale.append(str(path.relative_to(REPO)))
        for anchor in re.findall(r"docs/study\.md#([\w\-]+)", text):
            cited += 1
            assert anchor in anchors, f"{path.relative_to(REPO)} cites docs/study.md#{anchor}, which is not a section"
    assert not stale, f"cite docs/study.md, not STUDY.md (outside this repository): {stale}"
    assert cited >= 10
