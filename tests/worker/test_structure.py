"""Structure checks for the worker and the store (issue 14): the worker talks no SQL, no module over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"
MAX_LINES = 600


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _modules(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in (BOT / part).rglob("*.py") if "migrations" not in p.parts)


def test_the_packages_are_there() -> None:
    assert len(_modules("worker")) >= 5 and len(_modules("store")) >= 6  # a check that finds nothing proves nothing


def test_the_worker_talks_no_sql() -> None:
    offenders = {p.name: sorted(_imports(p) & {"sqlalchemy", "sqlmodel"}) for p in _modules("worker")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_worker_or_store_module_over_600_lines() -> None:
    sizes = {str(p.relative_to(BOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in _modules("worker", "store")}
    assert {k: n for k, n in sizes.items() if n > MAX_LINES} == {}
    for name in ("plan.py", "pipeline.py", "posts.py", "leader.py", "clock.py"):
        assert len((BOT / name).read_text(encoding="utf-8").splitlines()) <= MAX_LINES, name


def test_the_worker_keeps_its_name() -> None:
    from bot.worker import Worker, WorkerReport

    assert Worker.__module__ == "bot.worker.runner" and WorkerReport().outcomes == {}
