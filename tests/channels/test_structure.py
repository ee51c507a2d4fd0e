"""Structure checks anyone can repeat for bot/channels/ (issue 14): no SQL, no module over 600 lines,
no test failpoint in production code."""

from __future__ import annotations

import ast
from pathlib import Path

CHANNELS = Path(__file__).resolve().parents[2] / "bot" / "channels"
MAX_LINES = 600


def _modules() -> list[Path]:
    return sorted(CHANNELS.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_package_is_there() -> None:
    assert len(_modules()) >= 15  # facebook/, zalo/, spec, outbox: a check that finds nothing proves nothing


def test_no_channel_module_talks_sql() -> None:
    offenders = {str(p.relative_to(CHANNELS)): sorted(_imports(p) & {"sqlalchemy", "sqlmodel"}) for p in _modules()}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_channel_module_over_600_lines() -> None:
    sizes = {str(p.relative_to(CHANNELS)): len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()}
    assert {k: n for k, n in sizes.items() if n > MAX_LINES} == {}


def test_no_failpoint_or_exit_in_production_channels() -> None:
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        assert "os._exit" not in text and "FAILPOINT" not in text, path
