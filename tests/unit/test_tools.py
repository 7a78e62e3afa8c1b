import time

import pytest

from sockets_core.chat.autoreply import AutoResponder, RuleError, render
from sockets_core.tools.payload import PayloadError, build, parse_hex, parse_text


@pytest.mark.parametrize("text, encoding, expected", [
    ("hello\\r\\n\\x00\\xff", "utf-8", b"hello\r\n\x00\xff"),
    ("你好\\n", "gbk", "你好".encode("gbk") + b"\n"),
    ("你好", "utf-8", "你好".encode()),
    ("caf\u00e9\\t\\\\", "latin-1", b"caf\xe9\t\\"),
    ("\\0", "utf-8", b"\0"),
    ("", "utf-8", b""),
])
def test_mixed_text_and_escapes(text: str, encoding: str, expected: bytes) -> None:
    assert parse_text(text, encoding) == expected


@pytest.mark.parametrize("text, encoding", [("bad \\q", "utf-8"), ("\\x4", "utf-8"), ("\\xZZ", "utf-8"),
                                            ("trailing \\", "utf-8"), ("你好", "latin-1"), ("x", "ebcdic")])
def test_bad_input_is_a_clear_error(text: str, encoding: str) -> None:
    with pytest.raises(PayloadError):
        parse_text(text, encoding)


def test_hex_and_line_endings() -> None:
    assert parse_hex("68 65 6c 6C 6f") == b"hello"
    assert build("68656c6c6f", kind="hex", line_ending="crlf") == b"hello\r\n"
    assert build("hi", line_ending="lf") == b"hi\n"
    for bad in ("6", "zz", "68 6"):
        with pytest.raises(PayloadError):
            parse_hex(bad)
    with pytest.raises(PayloadError):
        build("hi", line_ending="lfcr")


def test_rules_answer_in_order_with_templates() -> None:
    responder = AutoResponder()
    responder.set_rules([
        {"match": "contains", "pattern": "价格", "reply": "价格表见官网"},
        {"match": "regex", "pattern": r"^ping\b", "reply": "pong {peer} at {time}: {text}"},
        {"match": "any", "reply": "收到"},
    ])
    assert responder.answer("请问价格多少", "1.2.3.4:5", now=0.0, wall_time=0.0) == "价格表见官网"
    answer = responder.answer("ping now", "1.2.3.4:5", now=0.0, wall_time=0.0)
    assert answer is not None and answer.startswith("pong 1.2.3.4:5 at ") and answer.endswith(": ping now")
    assert responder.answer("anything", "p", now=0.0, wall_time=0.0) == "收到"
    assert render("{text}{text}{nope}", "x", "p", 0.0) == "xx{nope}"


@pytest.mark.parametrize("rule", [{"match": "sometimes", "reply": "x"},
                                  {"match": "regex", "pattern": "(", "reply": "x"},
                                  {"match": "contains", "reply": "x"}, {"match": "any", "reply": ""},
                                  {"match": "contains", "pattern": "x" * 201, "reply": "x"}])
def test_bad_rules_are_refused_and_change_nothing(rule: dict) -> None:  # type: ignore[type-arg]
    responder = AutoResponder()
    responder.set_rules([{"match": "any", "reply": "kept"}])
    with pytest.raises(RuleError):
        responder.set_rules([{"match": "any", "reply": "new"}, rule])
    assert responder.answer("x", "p", now=0.0, wall_time=0.0) == "kept"


def test_tools_allow_restricts_targets_and_own_ports_are_refused() -> None:
    from sockets_core.bus import Bus
    from sockets_core.packetlog import PacketLog
    from sockets_core.tools.sessions import ToolError, ToolManager

    manager = ToolManager(Bus(), PacketLog(), "127.0.0.1", lambda: {8888}, ["10.0.0.0/8"])
    with pytest.raises(ToolError, match="outside --tools-allow"):
        manager.open("tcp-client", "127.0.0.1", 80)
    with pytest.raises(ToolError, match="own services"):
        manager.open("tcp-server", port=8888)
    with pytest.raises(ToolError, match="unknown tool"):
        manager.open("telnet", port=1)
    manager.check_target("10.1.2.3")  # inside: no error


def test_auto_responses_are_limited_per_peer() -> None:
    responder = AutoResponder(per_peer=5)
    responder.set_rules([{"match": "any", "reply": "again"}])
    answers = [responder.answer("ping", "10.0.0.1:1", now=0.0, wall_time=0.0) for _ in range(50)]
    assert answers.count("again") == 5
    assert responder.answer("ping", "10.0.0.2:1", now=0.0, wall_time=0.0) == "again"  # another peer is not held back


def test_the_answer_limit_counts_seconds_of_the_clock_passed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit's second is the monotonic ``now`` the caller gives; {time} is the wall time.
    A wall clock (or time.monotonic) that jumps changes neither."""
    monkeypatch.setattr(time, "monotonic", lambda: 1e9)  # the responder must not read it
    responder = AutoResponder(per_peer=2)
    responder.set_rules([{"match": "any", "reply": "at {time}"}])
    first_second = [responder.answer("x", "p", now=100.0, wall_time=0.0, key="10.0.0.1") for _ in range(3)]
    assert first_second[:2] == [first_second[0]] * 2 and first_second[2] is None
    assert responder.answer("x", "p", now=100.9, wall_time=5000.0, key="10.0.0.1") is None  # same second
    later = responder.answer("x", "p", now=101.0, wall_time=7200.0, key="10.0.0.1")  # a second later
    assert later == "at " + time.strftime("%H:%M:%S", time.localtime(7200.0))


def sock_extended_err(errno_: int, origin: int, icmp_type: int, icmp_code: int, offender: bytes) -> bytes:
    import struct

    return struct.pack("=IBBBBII", errno_, origin, icmp_type, icmp_code, 0, 0, 0) + offender


def test_icmp_errors_are_parsed_from_the_error_queue_message() -> None:
    import errno
    import socket
    import struct

    from sockets_core import icmp

    v4 = struct.pack("=H", socket.AF_INET) + b"\0\0" + socket.inet_aton("10.0.0.1") + bytes(8)
    error = icmp.parse_extended_error(socket.IPPROTO_IP, icmp.IP_RECVERR,
                                      sock_extended_err(errno.ECONNREFUSED, icmp.ORIGIN_ICMP, 3, 3, v4))
    assert error == icmp.IcmpError(errno.ECONNREFUSED, icmp.ORIGIN_ICMP, 3, 3, "10.0.0.1")
    assert error.describe("10.0.0.1:9") == "port unreachable (ICMP from 10.0.0.1): nothing listens on 10.0.0.1:9"
    v6 = struct.pack("=H", socket.AF_INET6) + bytes(6) + socket.inet_pton(socket.AF_INET6, "fe80::1") + bytes(4)
    router = icmp.parse_extended_error(socket.IPPROTO_IPV6, icmp.IPV6_RECVERR,
                                       sock_extended_err(errno.EHOSTUNREACH, icmp.ORIGIN_ICMP6, 1, 3, v6))
    assert router is not None and router.offender == "fe80::1"
    assert router.describe("[2001:db8::5]:69").endswith(
        "(ICMPv6 type 1 code 3 from fe80::1) sending to [2001:db8::5]:69")
    local = icmp.parse_extended_error(socket.IPPROTO_IP, icmp.IP_RECVERR,
                                      sock_extended_err(errno.EMSGSIZE, 1, 0, 0, b""))
    assert local is not None and local.offender is None
    assert icmp.parse_extended_error(socket.SOL_SOCKET, 1, bytes(16)) is None  # not an extended error
    assert icmp.parse_extended_error(socket.IPPROTO_IP, icmp.IP_RECVERR, b"short") is None
