"""Every message the staff read, in Vietnamese: click's, pydantic's and PyYAML's, in one place.

The bot's own messages are written in Vietnamese where they are raised. The libraries it builds on
speak English, so their messages pass through here:

- **click** routes every message through ``gettext`` (``from gettext import gettext as _`` in each
  module). :func:`install_click_vietnamese` points those ``_``/``ngettext`` names at the catalog
  below, so "No such option", "Try … for help", "[default: 60]" and the range errors come out in
  Vietnamese without wrapping click's classes.
- **PyYAML** syntax errors become a :class:`~bot.yamlfile.Problem` with the file, the line and a fix
  that fits the common mistakes (a colon in an unquoted title, a tab, an unclosed quote).
- **pydantic** validation errors become one problem per field (a union such as ``audience`` gives
  one error, not one per member), with "có phải ý bạn là …" for a misspelt value.

Anything not in a catalog falls back to a Vietnamese sentence; a test scans all CLI output for
English sentences from a library.
"""

from __future__ import annotations

import difflib
import logging
import re
from typing import Any

import click

# --- click ---------------------------------------------------------------------------------

CLICK: dict[str, str] = {
    "Usage:": "Cách dùng:",
    "Options": "Tùy chọn",
    "Commands": "Lệnh",
    "Positional arguments": "Tham số",
    "Show this message and exit.": "In hướng dẫn này rồi thoát.",
    "Show the version and exit.": "In phiên bản rồi thoát.",
    "%(prog)s, version %(version)s": "%(prog)s, phiên bản %(version)s",
    "Error: {message}": "Lỗi: {message}",
    "Try '{command} {option}' for help.": "Xem hướng dẫn: '{command} {option}'.",
    "No such option {name!r}.": "Không có tùy chọn {name!r}.",
    "No such option: {name}": "Không có tùy chọn {name}.",
    "No such command {name!r}.": "Không có lệnh {name!r}.",
    "Missing command.": "Thiếu tên lệnh.",
    "Invalid value: {message}": "Giá trị không hợp lệ: {message}",
    "Invalid value for {param_hint}: {message}": "Giá trị không hợp lệ cho {param_hint}: {message}",
    "Missing argument": "Thiếu tham số",
    "Missing option": "Thiếu tùy chọn",
    "Missing parameter": "Thiếu tham số",
    "Missing {param_type}": "Thiếu {param_type}",
    "Missing parameter: {param_name}": "Thiếu tham số: {param_name}",
    "argument": "tham số",
    "option": "tùy chọn",
    "parameter": "tham số",
    "Aborted!": "Đã hủy.",
    "deprecated": "không còn dùng",
    "env var: {var}": "biến môi trường: {var}",
    "default: {default}": "mặc định: {default}",
    "required": "bắt buộc",
    "(dynamic)": "(tùy lúc chạy)",
    "Value must be an iterable.": "Giá trị phải là một danh sách.",
    "Do you want to continue?": "Tiếp tục?",
    "Confirm the action without prompting.": "Đồng ý luôn, không hỏi lại.",
    "Repeat for confirmation": "Nhập lại để xác nhận",
    "Error: The two entered values do not match.": "Lỗi: hai lần nhập không giống nhau.",
    "Error: invalid input": "Lỗi: nhập không hợp lệ",
    "Press any key to continue...": "Nhấn một phím bất kỳ để tiếp tục…",
    "Choose from:\n\t{choices}": "Chọn một trong:\n\t{choices}",
    "Choice({choices})": "Lựa chọn({choices})",
    "{value!r} is not a valid {number_type}.": "{value!r} không phải {number_type} hợp lệ.",
    "{value} is not in the range {range}.": "{value} nằm ngoài khoảng cho phép ({range}).",
    "{value!r} is not a valid UUID.": "{value!r} không phải UUID hợp lệ.",
    "{value!r} is not a valid boolean. Recognized values: {states}":
        "{value!r} không phải đúng/sai; dùng một trong: {states}",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}":
        "Lưu ý: lệnh {name!r} không còn dùng.{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}":
        "Lưu ý: {param_type} {name!r} không còn dùng.{extra_message}",
    "file": "tệp",
    "directory": "thư mục",
    "path": "đường dẫn",
    "{name} {filename!r} does not exist.": "Không có {name} {filename!r}.",
    "{name} {filename!r} is a file.": "{filename!r} là một tệp, cần một thư mục.",
    "{name} {filename!r} is a directory.": "{filename!r} là một thư mục, cần một tệp.",
    "{name} {filename!r} is not readable.": "Không đọc được {name} {filename!r} (thiếu quyền).",
    "{name} {filename!r} is not writable.": "Không ghi được vào {name} {filename!r} (thiếu quyền).",
    "{name} {filename!r} is not executable.": "Không chạy được {name} {filename!r}.",
    "Could not open file {filename!r}: {message}": "Không mở được tệp {filename!r}: {message}",
    "unknown error": "lỗi không rõ",
    "Option {name!r} does not take a value.": "Tùy chọn {name!r} không nhận giá trị.",
    "Argument {name!r} takes {nargs} values.": "Tham số {name!r} cần {nargs} giá trị.",
    "Invalid start character for option ({option})": "Tùy chọn phải bắt đầu bằng '-' ({option})",
    "{editor}: Editing failed": "{editor}: sửa không thành công",
    "{editor}: Editing failed: {e}": "{editor}: sửa không thành công: {e}",
}

# (singular, plural) -> Vietnamese (no plural forms in Vietnamese)
CLICK_PLURAL: dict[tuple[str, str], str] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        "Thừa tham số không dùng đến ({args}).",
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        "Cần {nargs} giá trị nhưng có {len}.",
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        "Có phải ý bạn là {possibility}?",
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        "Tùy chọn {name!r} cần một giá trị.",
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        "{value!r} không phải một trong: {choices}.",
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        "{value!r} không đúng dạng {formats}.",
    ("{len_type} values are required, but {len_value} was given.",
     "{len_type} values are required, but {len_value} were given."):
        "Cần {len_type} giá trị nhưng có {len_value}.",
}
# click's number type names, shown in "'abc' is not a valid integer."
CLICK_WORDS = {"integer": "số nguyên", "float": "số", "boolean": "đúng/sai (true/false)"}


class _Tolerant(dict):  # type: ignore[type-arg]
    """Format mapping that leaves an unused placeholder empty (Vietnamese has one form for both)."""

    def __missing__(self, key: str) -> str:
        return ""


def translate(message: str) -> str:
    """click's ``gettext``: the Vietnamese of a click message id (unknown ids pass unchanged)."""
    return CLICK.get(message, message)


def translate_plural(singular: str, plural: str, n: int) -> str:
    """click's ``ngettext``. Templates are formatted by click afterwards with only the keys of the
    English form used, so the Vietnamese form keeps both placeholders and a tolerant formatter."""
    text = CLICK_PLURAL.get((singular, plural))
    if text is None:
        return singular if n == 1 else plural
    return _PluralTemplate(text)


class _PluralTemplate(str):
    """A str whose ``format`` ignores the placeholders the caller did not pass."""

    __slots__ = ()

    def format(self, *args: Any, **kwargs: Any) -> str:  # noqa: A003 - str.format's name
        return str(self).format_map(_Tolerant(kwargs))


def install_click_vietnamese() -> None:
    """Route click's gettext calls to the Vietnamese catalog (idempotent)."""
    import click
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.termui
    import click.types

    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.termui,
                   click.types):
        if hasattr(module, "_"):
            module._ = translate  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = translate_plural  # type: ignore[attr-defined]
    for cls, word in ((click.types.IntParamType, "integer"), (click.types.FloatParamType, "float"),
                      (click.types.BoolParamType, "boolean")):
        cls.name = CLICK_WORDS[word]
    click.types.IntRange.name = CLICK_WORDS["integer"]
    click.types.FloatRange.name = CLICK_WORDS["float"]


# --- PyYAML --------------------------------------------------------------------------------

QUOTE_FIX = "đặt giá trị trong dấu ngoặc kép, ví dụ title: \"Sáng kiến: tiết kiệm điện\""
INDENT_FIX = "thụt lề bằng dấu cách (không dùng tab), các khóa cùng cấp thẳng cột với nhau"

# (fragment of libyaml/PyYAML's problem, Vietnamese message, fix)
YAML_PROBLEMS: list[tuple[str, str, str]] = [
    ("tab character", "có ký tự tab ở đầu dòng", "thay tab bằng dấu cách (mỗi cấp thụt 2 dấu cách)"),
    ("mapping values are not allowed", "dấu ':' đặt sai chỗ", INDENT_FIX),
    ("found unexpected end of stream", "dấu ngoặc kép mở mà không đóng", "thêm dấu \" đóng ở cuối giá trị"),
    ("did not find expected ',' or ']'", "danh sách [ … ] không được đóng", "thêm dấu ] ở cuối danh sách"),
    ("did not find expected ',' or '}'", "nhóm { … } không được đóng", "thêm dấu } ở cuối"),
    ("did not find expected '-' indicator", "danh sách và khóa lẫn nhau ở cùng một cấp",
     "mỗi mục danh sách bắt đầu bằng '- ', thẳng cột với các mục khác"),
    ("did not find expected key", "thụt lề không đều", INDENT_FIX),
    ("could not find expected ':'", "thiếu dấu ':' sau khóa", "ghi 'khóa: giá trị' (có dấu cách sau dấu ':')"),
    ("did not find expected node content", "thiếu giá trị", "ghi giá trị sau dấu ':' hoặc sau '- '"),
    ("did not find expected <document start>", "thụt lề không đều ở dòng đầu", "các khóa cấp ngoài cùng bắt đầu ở cột đầu tiên"),
    ("expected a single document", "tệp có nhiều dòng '---'", "mỗi tệp chỉ một khối; xóa dòng '---' thừa"),
    ("found another document", "tệp có nhiều dòng '---'", "mỗi tệp chỉ một khối; xóa dòng '---' thừa"),
    ("found undefined alias", "dấu '*' ở đầu giá trị", QUOTE_FIX),
    ("found unknown escape character", "ký tự '\\' không hợp lệ trong dấu ngoặc kép",
     "dùng dấu ngoặc đơn '…' hoặc viết '\\\\'"),
    ("cannot start any token", "giá trị bắt đầu bằng một ký tự đặc biệt (@, `, %, |, >…)", QUOTE_FIX),
    ("found duplicate anchor", "dấu '&' ở đầu giá trị", QUOTE_FIX),
    ("found undefined tag handle", "dấu '!' ở đầu giá trị", QUOTE_FIX),
    ("found character", "có ký tự không hợp lệ", QUOTE_FIX),
]
_KEY_COLON = re.compile(r"^\s*(?:-\s+)?([\w-]+)\s*:\s+\S.*?:(\s|$)")
FIELD_WORDS = {"title": "tiêu đề", "summary": "tóm tắt", "name": "tên", "short_name": "tên ngắn",
               "message": "thông điệp", "text": "chữ"}


def yaml_problem(problem: str | None, line_text: str) -> tuple[str, str]:
    """Vietnamese (message, fix) for a YAML syntax error at a line whose text is ``line_text``."""
    problem = problem or ""
    if "\t" in line_text[: len(line_text) - len(line_text.lstrip())] or "tab character" in problem:
        return YAML_PROBLEMS[0][1], YAML_PROBLEMS[0][2]
    if "mapping values are not allowed" in problem:
        m = _KEY_COLON.match(line_text)
        if m:  # title: Sáng kiến: tiết kiệm — a colon inside an unquoted value
            word = FIELD_WORDS.get(m.group(1), "giá trị")
            return (f"giá trị của '{m.group(1)}' có dấu ':' nhưng không nằm trong dấu ngoặc kép",
                    f"đặt {word} trong dấu ngoặc kép, ví dụ {m.group(1)}: \"…: …\"")
    for fragment, message, fix in YAML_PROBLEMS:
        if fragment in problem:
            return message, fix
    return "YAML không hợp lệ", "kiểm tra thụt lề (dùng dấu cách, không dùng tab), dấu ':' sau mỗi khóa và dấu ngoặc kép"


def utf8_problem(data: bytes, exc: UnicodeDecodeError) -> tuple[int, None, str, str]:
    """The fields of a Problem after the file (line, field, message, fix) for a file that is not UTF-8
    (saved as ANSI/Windows-1258 by an old editor). Python's "(invalid continuation byte)" says nothing to staff."""
    line = data.count(b"\n", 0, exc.start) + 1
    return (line, None, "tệp không lưu bằng mã UTF-8 (có ký tự tiếng Việt ở mã cũ như Windows-1258/TCVN3)",
            "mở tệp bằng trình soạn thảo và lưu lại với mã hóa UTF-8")


# --- pydantic ------------------------------------------------------------------------------

_TYPE_HINTS: dict[str, tuple[str, str]] = {
    "int_parsing": ("phải là một số nguyên", "ghi một số nguyên, ví dụ 3000 (không dấu chấm, không chữ)"),
    "int_type": ("phải là một số nguyên", "ghi một số nguyên, ví dụ 3000"),
    "int_from_float": ("phải là một số nguyên", "bỏ phần thập phân, ví dụ 3000"),
    "float_parsing": ("phải là một số", "ghi một số, ví dụ 12.5"),
    "float_type": ("phải là một số", "ghi một số, ví dụ 12.5"),
    "bool_parsing": ("phải là true (có) hoặc false (không)", "ghi true hoặc false"),
    "bool_type": ("phải là true (có) hoặc false (không)", "ghi true hoặc false"),
    "date_from_datetime_parsing": ("không phải ngày", "ghi ngày theo dạng NĂM-THÁNG-NGÀY, ví dụ 2026-12-01"),
    "date_from_datetime_inexact": ("phải là một ngày, không có giờ", "ghi ngày theo dạng 2026-12-01"),
    "date_parsing": ("không phải ngày", "ghi ngày theo dạng NĂM-THÁNG-NGÀY, ví dụ 2026-12-01"),
    "date_type": ("không phải ngày", "ghi ngày theo dạng NĂM-THÁNG-NGÀY, ví dụ 2026-12-01"),
    "datetime_parsing": ("không phải ngày giờ", "ghi theo dạng 2026-12-01 hoặc 2026-12-01T08:00"),
    "datetime_from_date_parsing": ("không phải ngày giờ", "ghi theo dạng 2026-12-01 hoặc 2026-12-01T08:00"),
    "datetime_type": ("không phải ngày giờ", "ghi theo dạng 2026-12-01 hoặc 2026-12-01T08:00"),
    "string_type": ("phải là chữ", "ghi một chuỗi chữ (đặt trong dấu ngoặc kép nếu có dấu ':' hoặc '#')"),
    "string_too_short": ("không được để trống", "ghi giá trị sau dấu ':'"),
    "string_too_long": ("quá dài", "rút ngắn giá trị"),
    "string_pattern_mismatch": ("không đúng dạng", "xem ví dụ trong docs/huong-dan.md"),
    "list_type": ("phải là một danh sách", "ghi [a, b] hoặc mỗi mục một dòng bắt đầu bằng '- '"),
    "dict_type": ("phải là các cặp 'khóa: giá trị'", "xem ví dụ trong docs/huong-dan.md"),
    "model_type": ("phải là các cặp 'khóa: giá trị'", "xem ví dụ trong docs/huong-dan.md"),
    "model_attributes_type": ("phải là các cặp 'khóa: giá trị'", "xem ví dụ trong docs/huong-dan.md"),
    "too_short": ("có quá ít mục", "thêm mục vào danh sách"),
    "too_long": ("có quá nhiều mục", "bớt mục trong danh sách"),
    "greater_than_equal": ("quá nhỏ", ""),
    "greater_than": ("quá nhỏ", ""),
    "less_than_equal": ("quá lớn", ""),
    "less_than": ("quá lớn", ""),
    "none_required": ("phải để trống", "xóa giá trị"),
}
_FIELD_PATTERNS = {"link": ("liên kết phải bắt đầu bằng http:// hoặc https:// và không có dấu cách",
                            "ví dụ link: https://congdoan.vn/bai-viet")}
_DATE_REASONS = {
    "invalid character in year": "năm viết sai",
    "invalid character in month": "tháng viết sai",
    "invalid character in day": "ngày viết sai",
    "input is too short": "thiếu số",
    "month value is outside expected range of 1-12": "tháng phải từ 1 đến 12",
    "day value is outside expected range": "tháng đó không có ngày này",
    "invalid date separator": "dấu phân cách phải là '-'",
}
_UNION_TAG = re.compile(r"[\[\]()'\",]|^(?:literal|list|dict|str|int|date|datetime|function-|constrained-)")


def clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic's location without the union member tags (``audience.list[constrained-str]`` → ``audience``)."""
    return tuple(p for p in loc if isinstance(p, int) or not _UNION_TAG.search(str(p)))


def _expected(err: dict[str, Any]) -> list[str]:
    """The allowed values of a Literal error (pydantic lists them in English: "'a', 'b' or 'c'")."""
    return re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))


def did_you_mean(value: Any, choices: list[str] | set[str], cutoff: float = 0.6) -> str | None:
    """The closest allowed value to a misspelt one, or None."""
    close = difflib.get_close_matches(str(value), sorted(choices), n=1, cutoff=cutoff)
    return close[0] if close else None


def explain(err: dict[str, Any], vocab: set[str]) -> tuple[str, str | None]:
    """The Vietnamese (message, fix) of one pydantic error."""
    kind = err["type"]
    loc = clean_loc(err["loc"])
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        close = did_you_mean(key, vocab)
        fix = f"có phải ý bạn là '{close}'?" if close else "xóa khóa này (xem các khóa hợp lệ trong docs/huong-dan.md)"
        return f"khóa không được biết: '{key}'", fix
    if kind == "missing":
        return "thiếu khóa bắt buộc", f"thêm dòng '{loc[-1] if loc else '…'}: …'"
    if value is None and kind.endswith(("_type", "_parsing")):  # `unit:` left blank (a `new story` draft)
        return "chưa điền", f"ghi giá trị sau '{loc[-1] if loc else ''}:'"
    if kind in ("literal_error", "enum"):
        allowed = _expected(err)
        close = did_you_mean(value, allowed, 0.5) if isinstance(value, str) else None
        listed = ", ".join(allowed)
        fix = f"có phải ý bạn là '{close}'? (các giá trị được dùng: {listed})" if close else f"dùng một trong: {listed}"
        return f"giá trị không hợp lệ: {_show(value)}", fix
    msg = str(err.get("msg", kind))
    if kind == "value_error" or msg.startswith("Value error, "):
        msg = msg.removeprefix("Value error, ")
        if " | fix: " in msg:
            message, fix = msg.split(" | fix: ", 1)
            return message, fix
        return msg, None
    if kind == "string_pattern_mismatch" and loc and str(loc[-1]) in _FIELD_PATTERNS:
        return _FIELD_PATTERNS[str(loc[-1])]
    if kind in _TYPE_HINTS:
        message, fix = _TYPE_HINTS[kind]
        ctx = err.get("ctx", {})
        if kind.startswith(("date", "datetime")):
            reason = _DATE_REASONS.get(str(ctx.get("error", "")), "")
            if isinstance(value, str) and re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", value.strip()):
                d, m, y = value.strip().split("/")
                return (f"{_show(value)} {message}", f"trong tệp, ngày ghi theo dạng NĂM-THÁNG-NGÀY: {y}-{int(m):02d}-{int(d):02d}")
            message = f"{message}{' (' + reason + ')' if reason else ''}"
        if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            bound = next(iter(ctx.values()), "")
            sign = {"greater_than_equal": "≥", "greater_than": ">", "less_than_equal": "≤", "less_than": "<"}[kind]
            fix = f"ghi một số {sign} {bound}"
        return f"{_show(value)} {message}" if _showable(value) else message, fix or None
    return f"giá trị {_show(value)} không hợp lệ", "xem docs/huong-dan.md"


def _showable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(str(value)) <= 60


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value[:60]}'"
    if isinstance(value, list | dict):
        return "(danh sách)" if isinstance(value, list) else "(nhóm khóa)"
    return str(value)[:60]


def pick_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One error per field: a union (``audience: own|cascade|all|[units]``) fails once per member;
    keep the one that fits what was written (a word → the literal error with its suggestion)."""
    by_loc: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for err in errors:
        by_loc.setdefault(clean_loc(err["loc"]), []).append(err)
    chosen = []
    for group in by_loc.values():
        if len(group) == 1:
            chosen.append(group[0])
            continue
        rank = {"literal_error": 0, "enum": 0, "value_error": 1}
        chosen.append(min(group, key=lambda e: (rank.get(e["type"], 2 if not e["type"].endswith("_type") else 3))))
    return chosen


# --- dates typed on the command line --------------------------------------------------------


class MomentType(click.ParamType):
    """A date and time on the command line: 24/11/2026 08:00, 24/11/2026 or ISO 2026-11-24T08:00.

    The value stays text (the campaign's timezone is known only once the folder is loaded; see
    :func:`parse_now`), but a mistake is a usage error naming the option, before anything runs."""

    name = "ngày giờ"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from datetime import datetime

        from bot.vn import parse_moment

        if value is None or isinstance(value, datetime):
            return value
        try:
            parse_moment(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


MOMENT = MomentType()


# --- values shown to people ----------------------------------------------------------------


def yes_no(value: Any) -> Any:
    """True/False as có/không (``đã xác thực: có``); anything else unchanged."""
    if value is True:
        return "có"
    if value is False:
        return "không"
    return value


def construct_problem(root: Any, text: str, exc: Exception) -> tuple[int | None, str, str]:
    """(0-based line, message, fix) for a value PyYAML parsed but could not build.

    The common case is an impossible date written plainly (``approved_at: 2026-11-31``,
    ``start: 2026-13-01``): YAML reads it as a date and Python refuses it with an English
    ``ValueError`` and no line. Find the scalar that fails and say which date and why."""
    import yaml

    from bot.vn import date_reason

    builder = yaml.constructor.SafeConstructor()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.ScalarNode) and node.tag in (
            "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
        ):
            try:
                builder.construct_object(node, deep=True)
            except (ValueError, TypeError, OverflowError) as err:
                if node.tag.endswith("timestamp"):
                    return (node.start_mark.line, f"ngày '{node.value}' không có thật ({date_reason(err)})",
                            "sửa thành một ngày có thật theo dạng NĂM-THÁNG-NGÀY, ví dụ 2026-11-30")
                return (node.start_mark.line, f"giá trị '{str(node.value)[:40]}' không đọc được thành số",
                        "xóa thẻ kiểu dạng !!int / !!float và ghi giá trị bình thường")
    tagged = next((i for i, ln in enumerate(text.split("\n")) if "!!" in ln or "!<" in ln), None)
    return (tagged, "giá trị YAML không đọc được", "xóa thẻ kiểu dạng !!int / !!float / !!timestamp và ghi giá trị bình thường")


# --- log lines -----------------------------------------------------------------------------

LEVELS_VI = {"DEBUG": "gỡ lỗi", "INFO": "thông tin", "WARNING": "cảnh báo", "ERROR": "lỗi", "CRITICAL": "lỗi nặng"}


class StaffFormatter(logging.Formatter):
    """Log lines as the staff read them: local time (Asia/Ho_Chi_Minh, 24/11/2026 08:00:05), the level
    in Vietnamese, the message. The logger's name and the traceback are for developers: only with -vv."""

    def __init__(self, developer: bool = False) -> None:
        super().__init__()
        self.developer = developer

    def format(self, record: logging.LogRecord) -> str:  # noqa: A003 - logging's name
        from datetime import datetime

        from bot.vn import TZ

        when = datetime.fromtimestamp(record.created, TZ).strftime("%d/%m/%Y %H:%M:%S")
        level = LEVELS_VI.get(record.levelname, record.levelname.lower())
        where = f" [{record.name}]" if self.developer else ""
        text = f"{when} {level}{where}: {record.getMessage()}"
        if record.exc_info:
            if self.developer:
                text += "\n" + self.formatException(record.exc_info)
            else:
                exc = record.exc_info[1]
                text += f" ({type(exc).__name__}: {str(exc)[:300]}; chạy lại với -vv để xem chi tiết)"
        return text


def setup_logging(verbose: int) -> None:
    """Warnings by default, -v for what the bot does, -vv for developers (Alembic, tracebacks)."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler()
    handler.setFormatter(StaffFormatter(developer=verbose >= 2))
    logging.basicConfig(level=level, handlers=[handler])
    # Alembic's "Context impl SQLiteImpl", APScheduler's and urllib3's English lines are for developers only.
    for noisy in ("alembic", "urllib3", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)


# --- labels the command line and the reports share ------------------------------------------------

# What happens to a published post when its item changes or is withdrawn (issue 16).
CORRECTION_LABELS = {"edit": "sửa tại chỗ", "repost": "gỡ rồi đăng lại", "remove": "gỡ bài",
                     "cancel": "huỷ lượt chưa đăng", "check": "kiểm tra trên nền tảng rồi huỷ hoặc gỡ"}
CORRECTION_STATES = {"pending": "chờ", "retry": "chờ thử lại", "sending": "đang làm", "done": "xong", "failed": "LỖI",
                     "skipped": "không làm"}
