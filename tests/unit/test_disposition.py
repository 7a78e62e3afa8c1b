"""Content-Disposition for any name: a readable ASCII filename= that keeps the extension, and
filename*= with the real name (RFC 6266, RFC 8187)."""

from __future__ import annotations

import pytest
from werkzeug.http import parse_options_header

from webapp.disposition import ascii_filename, attachment


@pytest.mark.parametrize(("name", "fallback"), [
    ("配置.txt", "PeiZhi.txt"), ("你好 世界.bin", "NiHao ShiJie.bin"), ("привет.cfg", "privet.cfg"),
    ("日本語.設定", "RiBenYu.SheDing"), ("😀.png", "grinning.png"), ("firmware.tar.gz", "firmware.tar.gz"),
    ("配置", "PeiZhi"), (".bashrc", "bashrc"), ("a\"b\\c:d.txt", "a_b_c_d.txt"), ("\u200b.txt", "download.txt"),
])
def test_the_ascii_name_is_readable_keeps_the_extension_and_is_never_hidden_or_empty(name: str, fallback: str) -> None:
    assert ascii_filename(name) == fallback


def test_a_non_ascii_name_gets_both_forms_and_a_plain_one_only_filename() -> None:
    value, options = parse_options_header(attachment("配置.txt"))
    assert value == "attachment" and options == {"filename": "配置.txt"}  # werkzeug prefers filename*
    assert attachment("配置.txt") == "attachment; filename=PeiZhi.txt; filename*=UTF-8''%E9%85%8D%E7%BD%AE.txt"
    assert attachment("hello.txt") == "attachment; filename=hello.txt"
    assert attachment("switch config.txt") == 'attachment; filename="switch config.txt"'
