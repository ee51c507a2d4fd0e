"""The suite-wide scan of command output (tests/conftest.py) is wired in and would catch library English."""

from __future__ import annotations

from click.testing import CliRunner

from tests.conftest import library_english


def test_the_scan_wraps_every_cli_runner_invocation() -> None:
    assert CliRunner.invoke.__name__ == "checked"


def test_the_scan_recognises_the_library_phrases_that_once_leaked() -> None:
    leaked = ["Error: No such option: --ngay", "Try 'campaign-bot --help' for help.", "  --every INTEGER  [default: 60]",
              "Input should be a valid boolean, unable to interpret input", "mapping values are not allowed here",
              "Traceback (most recent call last):", "ValueError: day is out of range for month"]
    assert [library_english(line) for line in leaked] == [[line] for line in leaked]
    fine = ["✓ Thư mục chiến dịch hợp lệ.", "Lỗi: không có đơn vị 'ldld-tinhh' → có phải ý bạn là 'ldld-tinh'?",
            "Cách dùng: campaign-bot [TÙY CHỌN] LỆNH"]
    assert [library_english(line) for line in fine] == [[], [], []]
