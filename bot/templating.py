"""The one Jinja2 sandbox for every text the staff write: banner texts, milestone messages, image paths.

Why one: the files under ``banners/`` and ``config/`` are edited by anyone on the communications staff, so what they
write runs as code. Every staff-written template is compiled here, by a :class:`StaffSandbox`, with the same
Vietnamese filters (``so`` 1.000.000, ``ngay`` 24/11/2026, ``ngay_gio``, ``thu``) wherever it ends up, so what
``check`` accepts is exactly what renders. The project's own templates (report pages, e-mails) keep their own
environments: they are code reviewed with the project, and staff text only ever reaches them as values.

The sandbox has three layers, because Jinja's :class:`~jinja2.sandbox.SandboxedEnvironment` alone stops Python
internals (``__class__``) at render time but not work without end (``{% for %}`` in ``{% for %}`` over
``range(100000)``, ``'x' * 10**9``, a recursive macro):

1. **At load**, every template is parsed and its tree checked against a small language (:func:`_check_tree`):
   names, attributes and items not starting with ``_``, the filters of :data:`FILTERS`, tests, ``if``, one level of
   ``for``, arithmetic without ``**``. No calls, macros, ``set``, includes. A template outside it is refused with a
   Vietnamese message and its fix, before anything changes.
2. **While rendering**, ``*``, ``+``, ``%`` and ``**`` are checked before they run (a string repeated a billion
   times is refused, not built), and every filter's result is bounded.
3. **The output** is collected piece by piece and stopped at :data:`OUTPUT_MAX` characters.

Missing values print nothing (``{{ unit.name }}`` with no unit is empty, and so is ``None``), as a banner or a
message with a blank is better than a tick that stops.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from functools import cache, lru_cache
from typing import Any

from jinja2 import ChainableUndefined, Template, TemplateError, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from bot import bounds
from bot.errors import BotError
from bot.vn import nfc, ngay, ngay_gio, so, thu

#: Longest text a staff template may produce (a whole post): longer output is an error, not a bigger string.
OUTPUT_MAX = bounds.BODY_MAX
#: Longest string or list that one operation (``*``, ``+``, a filter) may build while rendering.
VALUE_MAX = bounds.BODY_MAX
#: Largest integer (in bits) an arithmetic step may produce: far above any count, far below a slow bignum.
INT_BITS_MAX = 256

#: Jinja's own filters allowed in staff texts: each is linear in its input (no width or count argument that
#: could build a huge string: ``center``, ``indent``, ``format``, ``wordwrap`` are left out).
_JINJA_ALLOWED = (
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr",
    "sort", "string", "striptags", "sum", "title", "trim", "truncate", "unique", "upper", "wordcount",
)
_VN_FILTERS = ("so", "ngay", "ngay_gio", "thu")
_HINT = "{{ unit.name }}, {{ value | so }}, {% if … %}…{% endif %}"


class StaffTemplateError(TemplateSyntaxError, BotError):
    """A staff template uses what the sandbox's language leaves out. A ``TemplateSyntaxError`` (with the line),
    so every caller that reports syntax errors reports these too; ``fix`` says what to write instead."""

    def __init__(self, message: str, fix: str, lineno: int) -> None:
        super().__init__(message, lineno)
        self.fix = fix


class TextRenderError(BotError):
    """A staff template failed while rendering (a sandbox refusal, a filter on a wrong value, output too long).
    The message is Vietnamese and quotes the template; callers decide whether to skip, fall back or hold."""


# --- filters ----------------------------------------------------------------------------------------------------


def _blank_if_undefined(func: Callable[..., Any]) -> Callable[..., Any]:
    """Filters receive Undefined for missing values; a missing number or date should print nothing, not crash."""

    def wrapper(value: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, Undefined) or value is None:
            return ""
        return func(value, *args, **kwargs)

    wrapper.__name__ = getattr(func, "__name__", "filter")
    wrapper.__doc__ = func.__doc__
    return wrapper


def _as_date(value: Any) -> Any:
    """Context values that went through JSON arrive as ISO strings; accept them where a date is expected."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def _ngay(value: Any) -> str:
    parsed = _as_date(value)
    return ngay(parsed) if isinstance(parsed, date) else str(value)


def _ngay_gio(value: Any) -> str:
    parsed = _as_date(value)
    return ngay_gio(parsed) if isinstance(parsed, datetime) else str(value)


def _thu(value: Any) -> str:
    parsed = _as_date(value)
    return thu(parsed) if isinstance(parsed, date) else str(value)


def _replace(value: Any, old: Any, new: Any, count: Any = None) -> str:
    """``replace`` that measures before it builds: ``x | replace('', long)`` would multiply the length."""
    text, old, new = str(value), str(old), str(new)
    times = text.count(old) if count is None else min(int(count), text.count(old))
    if len(text) + times * (len(new) - len(old)) > VALUE_MAX:
        raise TextRenderError(f"replace tạo chuỗi dài quá {so(VALUE_MAX)} ký tự")
    return text.replace(old, new, -1 if count is None else int(count))


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter whose result may not exceed :data:`VALUE_MAX` (Jinja passes some filters the environment or the
    context first: the wrapper keeps that marker)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple) and len(result) > VALUE_MAX:
            raise TextRenderError(f"bộ lọc {name} tạo kết quả dài quá {so(VALUE_MAX)} ký tự")
        return result

    wrapper.__name__ = getattr(func, "__name__", name)
    for marker in ("jinja_pass_arg",):
        if hasattr(func, marker):
            setattr(wrapper, marker, getattr(func, marker))
    return wrapper


def _filters() -> dict[str, Callable[..., Any]]:
    chosen: dict[str, Callable[..., Any]] = {name: JINJA_FILTERS[name] for name in _JINJA_ALLOWED}
    chosen["replace"] = _replace
    chosen.update(
        so=_blank_if_undefined(so),
        ngay=_blank_if_undefined(_ngay),
        ngay_gio=_blank_if_undefined(_ngay_gio),
        thu=_blank_if_undefined(_thu),
    )
    return {name: _bounded(name, func) for name, func in chosen.items()}


#: Every filter a staff template may use, in the order the error messages list them.
FILTERS: tuple[str, ...] = _VN_FILTERS + tuple(sorted(set(_JINJA_ALLOWED)))


# --- the language a staff template may use ----------------------------------------------------------------------

_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Getattr, nodes.Getitem,
    nodes.Slice, nodes.Filter, nodes.Test, nodes.If, nodes.CondExpr, nodes.And, nodes.Or, nodes.Not, nodes.Neg,
    nodes.Pos, nodes.Compare, nodes.Operand, nodes.Concat, nodes.Add, nodes.Sub, nodes.Mul, nodes.Div,
    nodes.FloorDiv, nodes.Mod, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair, nodes.Keyword, nodes.For,
)
_BLOCK_WORDS = {
    nodes.Macro: "{% macro %}", nodes.CallBlock: "{% call %}", nodes.FilterBlock: "{% filter %}",
    nodes.With: "{% with %}", nodes.Block: "{% block %}", nodes.Include: "{% include %}",
    nodes.Import: "{% import %}", nodes.FromImport: "{% from … import %}", nodes.Extends: "{% extends %}",
    nodes.Assign: "{% set %}", nodes.AssignBlock: "{% set %}", nodes.ScopedEvalContextModifier: "{% autoescape %}",
}


def _refuse(node: nodes.Node, message: str, fix: str) -> StaffTemplateError:
    return StaffTemplateError(message, fix, getattr(node, "lineno", 1) or 1)


def _check_tree(tree: nodes.Node) -> None:
    """Refuse what a staff text must not do (see the module docstring), naming the construct and the fix."""
    for node, in_loop in _walk(tree, False):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            raise _refuse(node, f"không được đọc '{node.attr}': tên bắt đầu bằng '_' là phần bên trong của chương trình",
                          f"chỉ đọc dữ liệu của bài, ví dụ {_HINT}")
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str) and node.arg.value.startswith("_"):
            raise _refuse(node, f"không được đọc '{node.arg.value}': tên bắt đầu bằng '_' là phần bên trong của chương trình",
                          f"chỉ đọc dữ liệu của bài, ví dụ {_HINT}")
        if isinstance(node, nodes.Name) and node.name.startswith("_"):
            raise _refuse(node, f"không có tên '{node.name}' (tên bắt đầu bằng '_' không dùng được)",
                          f"chỉ đọc dữ liệu của bài, ví dụ {_HINT}")
        if isinstance(node, nodes.Call):
            raise _refuse(node, "không được gọi hàm hay phương thức (dấu ngoặc tròn sau một tên)",
                          "dùng bộ lọc thay cho lời gọi, ví dụ {{ title | upper }} thay cho {{ title.upper() }}")
        if isinstance(node, nodes.Pow):
            raise _refuse(node, "không dùng phép lũy thừa (**)", "ghi sẵn con số cần dùng")
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise _refuse(node, f"không có bộ lọc '{node.name}'", f"dùng một trong: {', '.join(FILTERS)}")
        if isinstance(node, nodes.For):
            if node.recursive:
                raise _refuse(node, "không dùng được vòng lặp {% for … recursive %}",
                              "bỏ chữ recursive")
            if in_loop:
                raise _refuse(node, "vòng lặp {% for %} nằm trong một vòng lặp khác: số lần lặp có thể rất lớn",
                              "mỗi mẫu chữ chỉ dùng vòng {% for %} không lồng nhau")
        word = next((w for kind, w in _BLOCK_WORDS.items() if isinstance(node, kind)), None)
        if word is not None:
            raise _refuse(node, f"không dùng được {word}",
                          "chỉ dùng {{ … }} với bộ lọc, {% if %} và {% for %} (không lồng nhau)")
        if not isinstance(node, _ALLOWED_NODES):
            raise _refuse(node, f"không dùng được cấu trúc {type(node).__name__}",
                          "chỉ dùng {{ … }} với bộ lọc, {% if %} và {% for %} (không lồng nhau)")


def _walk(node: nodes.Node, in_loop: bool) -> Iterator[tuple[nodes.Node, bool]]:
    """Every node with whether a ``for`` encloses it (its body, not its iterable)."""
    yield node, in_loop
    for child in node.iter_child_nodes():
        inner = in_loop or (isinstance(node, nodes.For) and child is not node.iter)
        yield from _walk(child, inner)


# --- the environment --------------------------------------------------------------------------------------------


class StaffSandbox(SandboxedEnvironment):
    """Jinja's sandbox plus the checks of the module docstring: every parse goes through :func:`_check_tree`,
    and the operators that can build large values are measured first."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Overridden (rather than ``from_string``) because ``parse``, ``compile`` and ``from_string`` all go
        # through it, so no path compiles a staff template unchecked.
        tree = super()._parse(source, name, filename)
        try:
            _check_tree(tree)
        except StaffTemplateError as exc:
            exc.source, exc.name, exc.filename = source, name, filename
            raise
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise TextRenderError("mẫu chữ không dùng phép lũy thừa (**)")
        if operator == "%" and isinstance(left, str):
            raise TextRenderError("mẫu chữ không định dạng chuỗi bằng %; dùng bộ lọc so hoặc ngay")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and len(seq) * max(times, 0) > VALUE_MAX:
                    raise TextRenderError(f"phép nhân tạo chuỗi dài quá {so(VALUE_MAX)} ký tự")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > INT_BITS_MAX:
                raise TextRenderError("phép nhân tạo số quá lớn")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | list | tuple) and len(result) > VALUE_MAX:
            raise TextRenderError(f"phép {operator} tạo chuỗi dài quá {so(VALUE_MAX)} ký tự")
        return result


def _finalize(value: Any) -> Any:
    """``{{ none_value }}`` prints nothing rather than the word "None" on a banner."""
    return "" if value is None else value


@cache
def env() -> StaffSandbox:
    """The one sandbox (module-wide, so compiled templates are shared by every caller)."""
    sandbox = StaffSandbox(undefined=ChainableUndefined, autoescape=False, finalize=_finalize)
    sandbox.filters = _filters()
    sandbox.globals.clear()  # range, dict, lipsum, cycler, joiner, namespace: calls are refused anyway
    return sandbox


# --- the API ----------------------------------------------------------------------------------------------------


def is_templated(source: str) -> bool:
    return "{{" in source or "{%" in source or "{#" in source


@lru_cache(maxsize=2048)
def compile_text(source: str) -> Template:
    """Compiling costs far more than rendering, and templates repeat across units and renders: cached by source.
    Raises ``TemplateSyntaxError`` (``StaffTemplateError`` for what the sandbox refuses)."""
    return env().from_string(source)


def problem(source: str) -> tuple[str, str] | None:
    """(message, fix) in Vietnamese when ``source`` is not a valid staff template, else None. For the loader, which
    reports it against the file's line."""
    if not is_templated(source):
        return None
    try:
        compile_text(source)
    except StaffTemplateError as exc:
        where = f" (dòng {exc.lineno} của đoạn chữ)" if exc.lineno and "\n" in source else ""
        return f"lỗi mẫu Jinja2{where}: {exc.message}", exc.fix
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (dòng {line} của đoạn chữ)" if line and "\n" in source else ""
        return (f"lỗi mẫu Jinja2{where}: {exc.message or exc}",
                f"kiểm tra các cặp {{{{ }}}} và tên bộ lọc (có sẵn: {', '.join(_VN_FILTERS)}, upper, lower, default…)")
    return None


def check_text(source: str, what: str = "mẫu chữ") -> str:
    """For a pydantic validator: ``source`` unchanged, or ``ValueError("<what>: … | fix: …")``."""
    found = problem(source)
    if found is not None:
        raise ValueError(f"{what}: {found[0]} | fix: {found[1]}")
    return source


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a staff template to NFC text. Raises :class:`TextRenderError` (Vietnamese) for a template that does
    not compile, fails while rendering, or writes more than :data:`OUTPUT_MAX` characters."""
    if not is_templated(source):
        return nfc(source)
    try:
        template = compile_text(source)
        pieces: list[str] = []
        length = 0
        for piece in template.generate(dict(context)):
            length += len(piece)
            if length > OUTPUT_MAX:
                raise TextRenderError(f"mẫu chữ {_quote(source)} viết ra hơn {so(OUTPUT_MAX)} ký tự")
            pieces.append(piece)
    except TextRenderError as exc:
        if _quote(source) in str(exc):
            raise
        raise TextRenderError(f"không hiển thị được mẫu chữ {_quote(source)}: {exc}") from None
    except SecurityError as exc:
        raise TextRenderError(f"mẫu chữ {_quote(source)} đọc tới phần không được phép ({exc})") from None
    except TemplateError as exc:
        raise TextRenderError(f"không hiển thị được mẫu chữ {_quote(source)}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, RecursionError) as exc:
        raise TextRenderError(
            f"không hiển thị được mẫu chữ {_quote(source)}: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    return nfc("".join(pieces))


def render_text(template: str, context: Mapping[str, Any]) -> str:
    """:func:`render`, stripped (milestone messages and other texts sent as they are)."""
    return render(template, context).strip()


def _quote(source: str) -> str:
    return repr(source if len(source) <= 80 else source[:79] + "…")


_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%|\{#).)*)\}\}\s*$", re.S)


@lru_cache(maxsize=1024)
def _compile_expression(expr: str) -> Any:
    env().parse("{{" + expr + "}}")  # the same checks as a template (compile_expression does not call _parse)
    return env().compile_expression(expr, undefined_to_none=True)


def evaluate_number(source: str, context: Mapping[str, Any]) -> float | None:
    """A number written as a template (a progress bar's ``value``/``max``). A single ``{{ expr }}`` is evaluated
    natively (no string round trip, so 1.125 stays 1.125); anything else is rendered and parsed, accepting
    Vietnamese formatting (1.250, 12,5). None when it is not a number."""
    match = _SINGLE_EXPRESSION.match(source)
    if not match:
        return parse_number(render(source, context))
    try:
        value = _compile_expression(match.group("expr"))(**dict(context))
    except TextRenderError as exc:
        raise TextRenderError(f"không tính được {_quote(source)}: {exc}") from None
    except TemplateError as exc:
        raise TextRenderError(f"không tính được {_quote(source)}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TextRenderError(f"không tính được {_quote(source)}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, bool) or value is None or isinstance(value, Undefined):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    return parse_number(str(value))


_VN_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_VN_DECIMAL = re.compile(r"[+-]?\d+,\d+")
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: Any) -> float | None:
    """Parse "1.250", "1.250,5", "12,5", "1250", "1250.5", "130%" → float; None when it is not a number.

    Vietnamese writes dots for thousands and a comma for decimals, so "1.250" is one thousand two hundred and fifty
    (what ``so`` prints); a dot followed by other than exactly groups of three digits is a decimal point.
    """
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(text) else None
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", nfc(str(text))).rstrip("%")
    if not cleaned or len(cleaned) > 100:
        return None
    if _VN_THOUSANDS.fullmatch(cleaned):
        cleaned = cleaned.replace(".", "").replace(",", ".")
    elif _VN_DECIMAL.fullmatch(cleaned):
        cleaned = cleaned.replace(",", ".")
    elif not _PLAIN.fullmatch(cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None


@lru_cache(maxsize=2048)
def used_names(source: str) -> frozenset[str]:
    """Top-level context names a template reads (for cache keys: a banner is redrawn only when one changes)."""
    if not is_templated(source):
        return frozenset()
    return frozenset(meta.find_undeclared_variables(env().parse(source)))
