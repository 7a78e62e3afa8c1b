"""Which chunks of a chat byte stream carry a direct message (sockets_core/privacy.py), and
the web chat's client secret (webapp/chat_identity.py)."""

import pytest

from sockets_core.privacy import (
    DirectMessageLines,
    classify_line_start,
    is_direct_message,
    line_is_direct_message,
)
from webapp import chat_identity


@pytest.mark.parametrize("start, verdict", [
    (b"/msg bob hi", True),
    (b"/MSG bob hi", True),
    (b"  \t/msg bob hi", True),
    ("\u3000/msg bob 你好".encode("utf-8"), True),
    ("\u3000/msg bob 你好".encode("gbk"), True),
    (b"/me waves", False),
    (b"//msg is a message", False),
    (b"hello /msg", False),
    (b"/", None),
    (b"/ms", None),
    (b"   ", None),
    (b"\xe3\x80", None),  # the first two bytes of U+3000 in UTF-8
    (b"", None),
])
def test_classify_line_start(start: bytes, verdict: bool | None) -> None:
    assert classify_line_start(start) is verdict


def test_text_rule_matches_the_chat_commands() -> None:
    assert is_direct_message("/msg bob secret\r\n") and is_direct_message("\u3000/MSG bob x")
    assert not is_direct_message("/msgbob secret") and not is_direct_message("//msg x")
    assert not is_direct_message("bye") and not is_direct_message("/me msg")


def test_a_datagram_is_a_whole_line() -> None:
    assert line_is_direct_message(b"/msg bob hi") and not line_is_direct_message(b"/ms")


def test_chunks_of_a_dm_line_are_private_wherever_the_stream_is_cut() -> None:
    lines = DirectMessageLines()
    assert lines.feed(b"hello all\n") is False
    assert lines.feed(b"/m") is True  # could still become /msg
    assert lines.feed(b"sg bob the sec") is True
    assert lines.feed(b"ret code\nnext line\n") is True  # carries the end of the DM
    assert lines.feed(b"just talk\n") is False
    assert lines.feed(b"a\n/msg bob x\nb\n") is True
    assert lines.feed(b"/me wa") is False and lines.feed(b"ves\n") is False


def test_a_pause_ends_a_line_as_the_framer_does() -> None:
    lines = DirectMessageLines()
    assert lines.feed(b"/msg bob no newline") is True  # a course script: no \n, then a pause
    lines.line_ended()
    assert lines.feed(b"public words") is False


def test_blanks_split_across_chunks_and_long_runs_of_blanks() -> None:
    lines = DirectMessageLines()
    assert lines.feed(b"\xe3\x80") is True  # undecided: maybe an ideographic space
    assert lines.feed(b"\x80/msg bob x\n") is True
    assert lines.feed(b" " * 5000) is True  # still undecided, and nothing much is kept
    assert len(lines._start) <= 4
    assert lines.feed(b"/msg bob y\n") is True
    assert lines.feed(b" " * 5000 + b"hello\n") is False


def test_client_secrets_are_issued_by_the_server_and_cannot_be_made_up() -> None:
    first, second = chat_identity.issue(), chat_identity.issue()
    assert first != second and len(first) >= 32
    assert chat_identity.issued_here(first) and chat_identity.accept(first) == first
    nonce, _, mac = first.partition(".")
    assert not chat_identity.issued_here(f"{nonce}.{mac[::-1]}") and not chat_identity.issued_here(nonce)
    made_up = chat_identity.accept("my-tab-id")
    assert made_up != "my-tab-id" and chat_identity.issued_here(made_up)
    assert chat_identity.same_secret(first, first) and not chat_identity.same_secret("", "")


def test_recorded_frames_mask_the_secret_keeping_their_length() -> None:
    secret = chat_identity.issue()
    frames = [
        '{"type":"hello","nick":"ann","client":"' + secret + '"}',
        '{"type": "hello", "client" : "wei\\"rd\\\\ 名字", "nick": "ann"}',
        '{"type":"welcome","nick":"ann","client":"' + secret + '"}',
        '{"type":"send","id":"' + secret + ':1","text":"hi"}',
    ]
    for frame in frames:
        masked = chat_identity.masked_bytes(frame, secret)
        assert len(masked) == len(frame.encode()) and secret.encode() not in masked
        assert b'"type"' in masked and "名字".encode() not in masked
    assert chat_identity.masked_bytes(b'{"client":"\xff\xfeab"}', "") == b'{"client":"****"}'
    assert chat_identity.masked_bytes('{"text":"say \\"client\\":\\"x\\""}', "") == \
        b'{"text":"say \\"client\\":\\"x\\""}'  # only the field, not text that looks like it
