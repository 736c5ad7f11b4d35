"""DESIGN.md's layer diagram: no module imports from a layer above its own, and no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "convrnn"

#: longest-prefix match of a module name -> its layer; a module may import only lower layers and
#: its own package. Leaf packages of one layer (data, metrics, ...) do not import each other.
LAYERS: dict[str, int] = {
    "convrnn.errors": 0,
    "convrnn.io": 0,
    "convrnn.units": 0,
    "convrnn.progress": 0,
    "convrnn.threads": 0,
    "convrnn.hardware": 0,
    "convrnn.config": 1,
    "convrnn.data": 1,
    "convrnn.metrics": 1,
    "convrnn.viz": 1,
    "convrnn.cost.counters": 1,
    "convrnn.cost.memory": 1,
    "convrnn.cost.timing": 1,
    "convrnn.cells.registry": 1,
    "convrnn.blocks": 2,
    "convrnn.cells": 3,
    "convrnn.stacks": 4,
    "convrnn.models": 5,
    "convrnn.runs": 6,
    "convrnn.bundle": 6,
    "convrnn.train": 7,
    "convrnn.evaluate": 8,
    "convrnn.predict": 8,
    "convrnn.predict_io": 8,
    "convrnn.maps": 8,
    "convrnn.nowcasting": 8,
    "convrnn.export": 8,
    "convrnn.cost": 8,
    "convrnn.cli": 9,
    "convrnn.__main__": 10,
    "convrnn.registry": 10,  # the user-facing facade over cells.registry and models.factory
    "convrnn": 10,  # the package's lazy top level
}


def layer_of(module: str) -> tuple[str, int]:
    """The longest LAYERS prefix of ``module`` and its layer."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return prefix, LAYERS[prefix]
    raise AssertionError(f"{module} has no layer in tests/test_layers.py")


def module_name(path: Path) -> str:
    """Dotted name of a source file."""
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(path: Path) -> set[str]:
    """Every convrnn module ``path`` imports, at the top or inside functions (not TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking(node):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "convrnn":
                found.update(f"convrnn.{a.name}" for a in node.names)
            elif node.module.startswith("convrnn."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("convrnn"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the convrnn modules it imports."""
    return {module_name(p): imports_of(p) for p in sorted(SRC.rglob("*.py"))}


def test_no_import_goes_up_a_layer_or_across_leaves():
    bad = []
    for module, imported in graph().items():
        prefix, level = layer_of(module)
        for target in imported:
            tprefix, tlevel = layer_of(target)
            if tprefix == prefix or target.startswith(prefix + "."):
                continue
            if tlevel > level or (tlevel == level == 1):
                bad.append(f"{module} (layer {level}) imports {target} (layer {tlevel})")
    assert not bad, "imports against DESIGN.md's layers:\n" + "\n".join(sorted(bad))


def test_no_import_circle():
    edges = graph()
    modules = set(edges)

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    adj = {m: {t for t in map(resolve, edges[m]) if t and t != m} for m in edges}
    # a package's __init__ re-exporting its own submodules is not a circle
    adj = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in adj.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(adj[m]):
            if state.get(t) == 1:
                return [*stack[stack.index(t) :], t]
            if t not in state and (cycle := dfs(t)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(adj):
        if m not in state and (cycle := dfs(m)):
            pytest.fail("import circle: " + " -> ".join(cycle))


def test_the_checker_sees_an_upward_import(tmp_path):
    fake = tmp_path / "mod.py"
    fake.write_text("def f():\n    from convrnn.cli import main\n")
    assert imports_of(fake) == {"convrnn.cli"}
    assert layer_of("convrnn.cells.convlstm")[1] < layer_of("convrnn.cli")[1]
