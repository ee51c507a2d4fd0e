"""The house's rules, checked from the code's own imports (issue 14).

Anyone can repeat these checks: ``python -m pytest -q tests/test_structure.py``. They read the source
with :mod:`ast` (nothing of the project is run, except the one check that imports ``bot.load`` in a fresh
interpreter to see which libraries it really pulls in). Every import counts, also one inside a function:
a lazy import still ties two modules together. Imports under ``if TYPE_CHECKING:`` are for type hints
only and are left out.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"
MAX_LINES = 600
# Alembic revisions are generated schema scripts, not modules anybody reads as code.
NOT_SOURCE = ("store/migrations/",)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(BOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if any(part in rel for part in NOT_SOURCE):
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> set[str]:
    """Every module name this file imports (absolute, dotted), outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    origin = ".".join(base + ([child.module] if child.module else []))
                else:
                    origin = child.module or ""
                # `from bot.x import y` may name the submodule bot.x.y: then it ties to bot.x.y alone
                subs = {f"{origin}.{alias.name}" for alias in child.names}
                modules = {name for name in subs if name in MODULES}
                names.update(modules)
                if len(modules) < len(subs):
                    names.add(origin)
            visit(child)

    visit(tree)
    return names


def _project_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = set()
        for name in _imports(module, path):
            # the longest project module that the imported name is, or lies in
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        edges[module] = targets
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in edges:
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle() -> None:
    edges = _project_edges()
    cycles = _cycles(edges)
    shown = []
    for component in cycles:
        members = set(component)
        ties = [f"{a} -> {b}" for a in component for b in sorted(edges[a] & members)]
        shown.append(", ".join(ties))
    assert not cycles, "import cycles:\n" + "\n".join(shown)


def test_no_module_over_600_lines() -> None:
    long = {
        path.relative_to(ROOT).as_posix(): n
        for path in MODULES.values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize(
    "area",
    ["bot.channels", "bot.worker", "bot.cli"],
)
def test_no_sql_outside_the_store(area: str) -> None:
    """The platform modules, the worker and the CLI call the store's functions; only bot.store talks SQL."""
    talking = {}
    for module, path in MODULES.items():
        if module != area and not module.startswith(area + "."):
            continue
        used = {n.split(".")[0] for n in _imports(module, path)} & {"sqlalchemy", "sqlmodel"}
        if used:
            talking[module] = sorted(used)
    assert not talking, f"modules of {area} that import SQL libraries: {talking}"


def test_loader_does_not_import_pillow() -> None:
    """Validating a campaign needs no renderer: ``bot.load`` imports without Pillow."""
    probe = "import sys, bot.load; print(sorted(m for m in sys.modules if m == 'PIL' or m.startswith('PIL.')))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"bot.load pulls in Pillow: {out.stdout.strip()}"
