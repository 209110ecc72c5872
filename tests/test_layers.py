"""The package graph (DESIGN.md section 2): dependencies point one way, down, with no cycle.

Nodes are the top-level packages and single-file modules beside cli.py; every `import` in every
module (also those inside functions) is an edge."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = {"tests", "bench"}
STAGES = {"cli", "commands", "demo", "ensemble", "folds", "submit"}
LOWER = {"models", "data", "configs", "names", "atomic", "errors", "plots", "rle"}


def nodes(root: Path) -> dict[str, list[Path]]:
    """Top-level package or module name -> its Python files."""
    found = {}
    for path in sorted(root.iterdir()):
        if path.name in OUTSIDE or path.name.startswith("."):
            continue
        if path.is_dir() and (path / "__init__.py").is_file():
            found[path.name] = sorted(path.rglob("*.py"))
        elif path.suffix == ".py":
            found[path.stem] = [path]
    return found


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file."""
    names = set()
    for item in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(item, ast.Import):
            names |= {alias.name.split(".")[0] for alias in item.names}
        elif isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
            names.add(item.module.split(".")[0])
    return names


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = nodes(root)
    return {node: {m for f in files for m in imported_modules(f) if m in found and m != node}
            for node, files in found.items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def cycles(graph: dict[str, set[str]]) -> list[str]:
    return sorted(node for node in graph if node in reachable(graph, node))


def test_the_graph_sees_the_expected_packages():
    graph = package_graph()
    assert {"cli", "demo", "ensemble", "folds", "submit", "models", "data", "configs", "names", "atomic",
            "errors"} <= set(graph)
    assert {"ensemble", "folds", "submit"} <= graph["cli"] | reachable(graph, "cli")


def test_no_cycle_between_top_level_packages():
    assert cycles(package_graph()) == []


@pytest.mark.parametrize("source, target", [("folds", "ensemble"), ("ensemble", "folds")])
def test_training_and_ensembling_never_depend_on_each_other(source, target):
    graph = package_graph()
    assert target not in reachable(graph, source), f"{source} reaches {target}"


@pytest.mark.parametrize("lower", sorted(LOWER))
def test_lower_layers_never_import_a_stage(lower):
    assert not reachable(package_graph(), lower) & STAGES


def test_the_checks_catch_a_cycle_and_an_indirect_dependency(tmp_path):
    """The same functions on a made-up tree: folds -> helper -> ensemble -> folds."""
    for package, imports in (("folds", "import helper"), ("ensemble", "from folds.engine import x"),
                             ("models", "")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(imports + "\n")
    (tmp_path / "helper.py").write_text("def f():\n    from ensemble import y\n")
    graph = package_graph(tmp_path)
    assert graph == {"folds": {"helper"}, "helper": {"ensemble"}, "ensemble": {"folds"}, "models": set()}
    assert cycles(graph) == ["ensemble", "folds", "helper"]
    assert "ensemble" in reachable(graph, "folds")


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module outside tests and bench (a package is its __init__)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in OUTSIDE or any(p.startswith(".") for p in parts):
            continue
        name = ".".join(parts).removesuffix(".py").removesuffix(".__init__")
        found[name] = path
    return found


def module_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports: `from a.b import c` is a.b.c when that is a module, else a.b."""
    names = set()
    for item in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(item, ast.Import):
            candidates = [alias.name for alias in item.names]
        elif isinstance(item, ast.ImportFrom) and item.level == 0 and item.module:
            candidates = [f"{item.module}.{alias.name}" if f"{item.module}.{alias.name}" in modules else item.module
                          for alias in item.names]
        else:
            continue
        names |= {name for name in candidates if name in modules}
    return names


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {name: module_imports(path, modules) - {name} for name, path in modules.items()}


def test_no_two_modules_import_each_other():
    """Also inside one package: a module reachable from itself is part of a ring."""
    graph = module_graph()
    assert {"folds.engine", "report.page", "models.registry"} <= set(graph)
    assert cycles(graph) == []


def test_the_module_check_catches_a_ring_inside_a_package(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg import a\n")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import f\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    import pkg.a\n")
    (tmp_path / "pkg" / "c.py").write_text("from pkg import b\n")
    assert cycles(module_graph(tmp_path)) == ["pkg.a", "pkg.b"]


def test_the_registry_holds_no_test_models_outside_tests():
    """A fresh interpreter that imports the zoo (and the test stubs' module) sees only the zoo's names."""
    code = "import models, tests.stubs; print(' '.join(models.available()))"
    names = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    assert "effisegnet-b0" in names and "smp" in names
    assert not [name for name in names if name.startswith("stub-")]
