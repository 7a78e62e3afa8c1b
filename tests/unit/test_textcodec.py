"""sockets_core/textcodec.py: the UTF-8, else GBK, else \\xNN reading of what clients send.

The course's scripts (shared/seeds) send ``encode('gbk')`` or ``encode('gb2312')`` on Chinese
Windows and ``encode('utf-8')`` (or ``encode()``) elsewhere, in recv(1024)-sized pieces that
can cut a character in two. Whatever arrives, decoding never raises, says which reading it
took, and that reading gives the very bytes back.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sockets_core.textcodec import (
    ESCAPED,
    GBK,
    UTF8,
    decode,
    encode,
    has_surrogates,
    printable,
    readable,
)

HELLO = "你好，世界"


def test_utf8_is_read_as_utf8() -> None:
    assert decode(HELLO.encode("utf-8")) == (HELLO, UTF8)
    assert decode(b"/nick bob\n") == ("/nick bob\n", UTF8)  # ASCII is UTF-8


@pytest.mark.parametrize("codec", ["gbk", "gb2312"])  # what the Windows scripts call encode() with
def test_the_windows_scripts_gbk_and_gb2312_are_read_as_gbk(codec: str) -> None:
    data = HELLO.encode(codec)
    assert decode(data) == (HELLO, GBK)
    assert encode(HELLO, GBK) == data  # and the answer goes back in their encoding


def test_a_character_cut_by_recv_is_escaped_and_the_rest_kept() -> None:
    cut = "你好".encode()[:-1]  # recv(1024) ended inside the second character
    text, encoding = decode(cut)
    assert encoding == ESCAPED and text == "你\\xe5\\xa5"
    # a GBK message cut the same way is valid in neither reading: all its non-ASCII bytes are
    # escaped, the whole character before the cut too (the reading is per message, not per byte)
    assert decode("ok 你好".encode("gbk")[:-1]) == ("ok \\xc4\\xe3\\xba", ESCAPED)


def test_invalid_bytes_are_escaped_never_raised() -> None:
    assert decode(b"ok \xff\xfe end") == ("ok \\xff\\xfe end", ESCAPED)
    assert decode(b"\x80") == ("\\x80", ESCAPED)  # not a GBK byte alone either


def test_utf8_and_gbk_mixed_in_one_message_is_taken_whole_in_one_reading() -> None:
    mixed = "名字".encode() + b" " + "世界".encode("gbk")
    # not UTF-8 (the GBK half is not), but valid GBK as a whole: the UTF-8 half shows as
    # mojibake, and the reading still gives the very bytes back
    assert decode(mixed) == ("鍚嶅瓧 世界", GBK)
    assert encode("鍚嶅瓧 世界", GBK) == mixed


def test_a_gbk_client_gets_a_question_mark_for_what_gbk_lacks() -> None:
    assert encode("ok 😀 好", GBK) == "ok ? 好".encode("gbk")
    assert encode("ok 😀 好", UTF8) == "ok 😀 好".encode()


def test_printable_escapes_control_characters_but_keeps_tabs_and_chinese() -> None:
    assert printable("a\tb\x1b[2J\x00好\n") == "a\tb\\x1b[2J\\x00好\\x0a"
    assert printable("\x7f\x85") == "\\x7f\\x85"


def test_readable_reads_surrogate_escaped_names() -> None:
    gbk_name = "文件.txt".encode("gbk").decode("utf-8", "surrogateescape")
    assert has_surrogates(gbk_name) and readable(gbk_name) == "文件.txt"
    assert readable("plain.txt") == "plain.txt" and not has_surrogates("plain.txt")
    assert readable("\ud800x") == "\\ud800x"  # a JSON surrogate that stands for no byte


@given(st.binary(max_size=300))
def test_decoding_never_raises_and_its_reading_gives_the_bytes_back(data: bytes) -> None:
    text, encoding = decode(data)
    assert encoding in (UTF8, GBK, ESCAPED)
    text.encode("utf-8")  # no lone surrogate reaches JSON, a WebSocket or a log file
    if encoding == ESCAPED:  # only when neither reading works
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        with pytest.raises(UnicodeDecodeError):
            data.decode("gbk")
    else:
        assert text.encode(encoding) == data


CHINESE_OR_ASCII = st.text(st.one_of(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5),
                                     st.characters(min_codepoint=0x20, max_codepoint=0x7E)), max_size=80)


@given(CHINESE_OR_ASCII)
def test_what_a_utf8_script_sends_comes_back_as_typed(text: str) -> None:
    assert decode(text.encode("utf-8")) == (text, UTF8)


@given(CHINESE_OR_ASCII)
def test_what_a_gbk_script_sends_comes_back_as_typed_unless_it_also_reads_as_utf8(text: str) -> None:
    data = text.encode("gbk")
    decoded, encoding = decode(data)
    try:
        as_utf8: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        as_utf8 = None
    # UTF-8 is tried first: GBK bytes that happen to be valid UTF-8 (ASCII, and rare pairs)
    # read as UTF-8; everything else is read back exactly as the GBK client typed it
    assert (decoded, encoding) == ((as_utf8, UTF8) if as_utf8 is not None else (text, GBK))


@given(st.binary(max_size=200))
def test_readable_never_raises_and_is_always_valid_utf8(data: bytes) -> None:
    name = data.decode("utf-8", "surrogateescape")  # what os.scandir hands over
    shown = readable(name)
    shown.encode("utf-8")
    assert shown == decode(data)[0]


@given(st.text(max_size=50))
def test_encode_for_a_gbk_client_never_raises_and_keeps_what_gbk_has(text: str) -> None:
    encoded = encode(text, GBK)
    kept = "".join(c if c.encode("gbk", "replace") != b"?" else "?" for c in text)
    assert encoded.decode("gbk") == kept
