"""YAML with line numbers, and the problems a campaign file can have.

Staff edit these files by hand, so every problem must name the file, the line and the fix.
PyYAML's node tree keeps the marks that ``safe_load`` throws away; we walk both side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.errors import BotError

Path_ = tuple[Any, ...]
# libyaml's parser when PyYAML has it (about 10× faster on a federation's thousand-unit file).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    file: str  # relative to the workspace
    line: int | None
    field: str | None
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        what = f"{self.field}: " if self.field else ""
        text = f"{where}: {what}{self.message}"
        return text + (f"\n    → cách sửa: {self.fix}" if self.fix else "")

    def one_line(self) -> str:
        """The problem on one line (alerts, status headers): where, what, and the fix after an arrow."""
        return str(self).replace("\n    → cách sửa: ", " → cách sửa: ")


class LoadError(BotError):
    """The campaign folder has problems; nothing was changed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Located:
    """Parsed YAML data plus the line of every key and list item."""

    file: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    line_offset: int = 0  # front matter starts after the opening '---'

    def line(self, path: Path_) -> int | None:
        """The line of the deepest part of ``path`` that exists in the file."""
        best: int | None = self.lines.get(())
        current: Path_ = ()
        for part in path:
            candidate = (*current, part)
            if candidate in self.lines:
                current = candidate
                best = self.lines[candidate]
            elif isinstance(part, int | str) and (*current, str(part)) in self.lines:
                current = (*current, str(part))
                best = self.lines[current]
            # parts absent from the data (pydantic union tags) are skipped
        return best + self.line_offset if best is not None else None

    def problem(self, path: Path_, message: str, fix: str | None = None) -> Problem:
        return Problem(self.file, self.line(path), ".".join(str(p) for p in path) or None, message, fix)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], dupes: list[tuple[Path_, int]]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dupes.append(((*path, key), key_node.start_mark.line + 1))
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, dupes)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, dupes)


def parse_yaml(text: str, file: str, line_offset: int = 0) -> tuple[Located | None, list[Problem]]:
    """Parse YAML text; a syntax error becomes a Problem with its line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()  # one parse: the node tree keeps the marks …
        if node is not None:
            guarded = _guard(node, file, line_offset)
            if guarded is not None:
                return None, [guarded]
        data = loader.construct_document(node) if node is not None else None  # … and gives the data
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as exc:
        # An impossible date (`approved_at: 2026-11-31`) or an explicit tag on a value that does not fit
        # it (`!!int x`): bot.messages finds the value and says why, in Vietnamese, with its line.
        from bot.messages import construct_problem

        at, message, fix = construct_problem(node, text, exc) if not isinstance(exc, RecursionError | MemoryError) \
            else (None, "giá trị YAML không đọc được", "viết tệp đơn giản hơn theo mẫu của chiến dịch mẫu")
        return None, [Problem(file, at + 1 + line_offset if at is not None else None, None, message, fix)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        context = getattr(exc, "context_mark", None)
        if context is not None and mark is not None and mark.index >= len(text.rstrip()):
            mark = context  # an unclosed bracket or quote, found at the end: point at where it opened
        line = mark.line + 1 + line_offset if mark else None
        from bot.messages import yaml_problem  # PyYAML's English, in Vietnamese with a fix that fits

        lines = text.split("\n")
        line_text = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
        message, fix = yaml_problem(getattr(exc, "problem", None), line_text)
        return None, [Problem(file, line, None, f"YAML không hợp lệ: {message}", fix)]
    finally:
        loader.dispose()
    located = Located(file, data, line_offset=line_offset)
    dupes: list[tuple[Path_, int]] = []
    if node is not None:
        _walk(node, (), located.lines, dupes)
    problems = [
        Problem(file, line + line_offset, ".".join(map(str, p)), "khóa bị lặp lại", "xóa một trong hai dòng")
        for p, line in dupes
    ]
    return located, problems


def _guard(root: yaml.Node, file: str, line_offset: int) -> Problem | None:
    """Refuse a node tree that would be dangerous to build or walk: aliases that refer to
    themselves (``tags: &a [*a]``), aliases whose expansion is large ("billion laughs": 272 bytes
    became 1,17 GB), too deep a nesting. Iterative, so a hostile file cannot exhaust the stack."""
    from bot import bounds

    def at(node: yaml.Node) -> int:
        return node.start_mark.line + 1 + line_offset

    # 1. depth and cycles: an iterative depth-first walk over distinct nodes
    state: dict[int, int] = {}  # id -> 1 on the current path, 2 done
    size: dict[int, int] = {}  # id -> number of nodes once every alias is expanded
    shared: dict[int, yaml.Node] = {}  # nodes reached more than once (anchors used by aliases)
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, leaving = stack.pop()
        key = id(node)
        children = _children(node)
        if leaving:
            state[key] = 2
            size[key] = min(1 + sum(size[id(c)] for c in children), 10**12)
            continue
        if state.get(key) == 2:
            shared[key] = node
            continue
        if state.get(key) == 1:
            return Problem(file, at(node), None, "bí danh YAML (*tên) trỏ vào chính khối chứa nó (vòng lặp vô hạn)",
                           "bỏ dấu &tên / *tên và viết giá trị ra đầy đủ")
        if depth > bounds.YAML_DEPTH_MAX:
            return Problem(file, at(node), None, f"các khối lồng nhau quá sâu (hơn {bounds.YAML_DEPTH_MAX} tầng)",
                           "viết tệp phẳng hơn theo mẫu của chiến dịch mẫu")
        state[key] = 1
        if len(state) > bounds.YAML_NODES_MAX:
            return Problem(file, None, None, "tệp có quá nhiều phần tử", "tách hoặc rút gọn tệp")
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children)
    # 2. the expansion that aliases cause
    expanded = size[id(root)]
    if expanded - len(state) > bounds.YAML_ALIAS_BUDGET:
        anchor = next(iter(shared.values()), root)
        return Problem(file, at(anchor), None,
                       f"bí danh YAML (&tên / *tên) nhân tệp lên quá lớn (hơn {bounds.YAML_ALIAS_BUDGET:,} phần tử)".replace(",", "."),
                       "bỏ các bí danh và viết giá trị ra đầy đủ")
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def read_yaml(path: Path, workspace: Path, raw: bytes | None = None) -> tuple[Located | None, list[Problem]]:
    """A YAML file of the campaign, parsed. ``raw``: its bytes when the caller already read them
    (bot.reload hashes them first); None for a file over the size limit, which is never read."""
    from bot import bounds
    from bot.vn import nfc

    rel = path.relative_to(workspace).as_posix()
    try:
        if (len(raw) if raw is not None else path.stat().st_size) > bounds.YAML_FILE_BYTES_MAX:
            return None, [Problem(rel, None, None, f"tệp quá lớn (tối đa {bounds.YAML_FILE_BYTES_MAX // 1_000_000} MB)",
                                  "tách tệp hoặc xóa phần thừa")]
        raw = path.read_bytes() if raw is None else raw
        # what Path.read_text gives: "\r\n" and "\r" read as "\n"
        text = nfc(raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n"))
    except UnicodeDecodeError as exc:
        from bot.messages import utf8_problem

        return None, [Problem(rel, *utf8_problem(raw or b"", exc))]
    return parse_yaml(text, rel)


def model_fields_vocabulary(*models: type[BaseModel]) -> set[str]:
    """Every field name of these models and of the models they contain (for "did you mean")."""
    names: set[str] = set()
    todo = list(models)
    seen: set[type] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
            stack = [info.annotation]
            while stack:
                ann = stack.pop()
                if isinstance(ann, type) and issubclass(ann, BaseModel):
                    todo.append(ann)
                stack.extend(getattr(ann, "__args__", ()) or ())
    return names


def validate(
    model: type[BaseModel], data: Any, located: Located, base: Path_ = (), vocabulary: set[str] | None = None
) -> tuple[Any, list[Problem]]:
    """Validate ``data`` against ``model``; errors become Problems with lines and fixes."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        from bot.messages import clean_loc, explain, pick_errors  # pydantic's English, in Vietnamese

        vocab = vocabulary if vocabulary is not None else model_fields_vocabulary(model)
        problems = []
        for err in pick_errors(exc.errors()):  # one error per field, not one per member of a union
            path = (*base, *clean_loc(err["loc"]))
            problems.append(located.problem(path, *explain(err, vocab)))
        return None, problems
