"""The package graph (DESIGN.md section 2): dependencies point one way, down, with no cycle.

Nodes are the top-level packages and single-file modules beside cli.py; every `import` in every
module (also those inside functions) is an edge."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = {"tests", "bench"}
STAGES = {"cli", "demo", "ensemble", "folds", "submit"}
LOWER = {"models", "data", "configs", "names", "atomic", "errors", "plots"}


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
