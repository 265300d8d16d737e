"""The architecture, checked: data flows one way (problem -> solver -> solution -> metrics ->
results table -> report), each layer imports only the layers below it, and no module imports
itself back through a circle (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reference", "solvers", "dsm_bench", "reports", "benchmarks", "speed")

# what each layer may import of the project (prefixes); the command line is the top floor
ALLOWED = {
    "reference": ("reference",),
    # the schema imports nothing of the project: a solver's facts are declared in its columns
    "solvers": ("reference", "solvers", "dsm_bench.schema"),
    "dsm_bench": ("reference", "solvers", "dsm_bench"),
    # the reports read tables; they also ask a solver's class how its options read in a
    # label (solvers.base / solvers.registry), take the problem registry's descriptions and
    # published data, and the tuning's own section (which reads the studies' journal)
    "reports": ("reports", "reference.problems", "reference.published", "dsm_bench.schema",
                "dsm_bench.table", "dsm_bench.pooled", "dsm_bench.model_error",
                "dsm_bench.tuning.report", "solvers.base", "solvers.registry"),
    "benchmarks": ("reference", "solvers", "dsm_bench", "benchmarks", "speed"),
    "speed": ("reference", "solvers", "dsm_bench", "speed"),
}
TOP_FLOOR = "dsm_bench.cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST, typing_too: bool = False):
    """Every node, except what sits under ``if TYPE_CHECKING:`` (never imported at run time)
    unless ``typing_too``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if (not typing_too and isinstance(node, ast.If)
                and getattr(node.test, "id", None) == "TYPE_CHECKING"):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def project_imports(path: Path, typing_too: bool = False) -> set[str]:
    """Every project module imported anywhere in the file (also inside functions)."""
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text()), typing_too):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {n for n in names if n.split(".")[0] in PACKAGES}
    return found


def modules(typing_too: bool = False) -> dict[str, set[str]]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            out[module_name(path)] = project_imports(path, typing_too)
    return out


GRAPH = modules()


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if m != TOP_FLOOR))
def test_no_module_imports_a_layer_above_it(module):
    allowed = ALLOWED[module.split(".")[0]]
    above = {name for name in GRAPH[module]
             if not any(name == a or name.startswith(a + ".") for a in allowed)
             or name == TOP_FLOOR}
    assert not above, f"{module} imports {sorted(above)}, a layer above it"


@pytest.mark.parametrize("typing_too", [False, True], ids=["run time", "type hints too"])
def test_no_import_circle(typing_too):
    """Also none through imports made for type hints only: two modules that need each
    other's types are one module of meaning."""
    graph = modules(typing_too)

    def resolve(name: str) -> str | None:
        while name and name not in graph:
            name = name.rpartition(".")[0]
        return name or None

    edges = {m: {r for n in names if (r := resolve(n)) and r != m} for m, names in graph.items()}
    # a package's __init__ re-exporting its own modules is not a circle of meaning
    edges = {m: {r for r in rs if not m.startswith(r + ".")} for m, rs in edges.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in edges[m]:
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
