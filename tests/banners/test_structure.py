"""The banner package's shape (issue 14): modules small enough to read, every element type registered and complete."""

from __future__ import annotations

from pathlib import Path

from bot.banners import ELEMENT_TYPES, Element
from bot.banners.elements.base import Element as Base

PACKAGE = Path(__file__).resolve().parents[2] / "bot" / "banners"


def test_no_module_over_600_lines() -> None:
    sizes = {str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
             for path in PACKAGE.rglob("*.py")}
    assert sizes and all(lines <= 600 for lines in sizes.values()), sizes


def test_every_element_type_owns_its_validation_data_and_drawing() -> None:
    for name, cls in ELEMENT_TYPES.items():
        assert issubclass(cls, Element) and cls is not Base
        assert cls.model_fields["type"].annotation.__args__ == (name,)  # type: ignore[union-attr]
        assert cls.draw is not Base.draw, f"{name} does not draw itself"
