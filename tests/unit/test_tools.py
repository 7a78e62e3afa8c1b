import pytest

from sockets_core.tools.autoreply import AutoResponder, RuleError, render
from sockets_core.tools.payload import PayloadError, build, parse_hex, parse_text


@pytest.mark.parametrize("text, encoding, expected", [
    ("hello\\r\\n\\x00\\xff", "utf-8", b"hello\r\n\x00\xff"),
    ("你好\\n", "gbk", "你好".encode("gbk") + b"\n"),
    ("你好", "utf-8", "你好".encode("utf-8")),
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
    assert responder.answer("请问价格多少", "1.2.3.4:5", 0.0) == "价格表见官网"
    answer = responder.answer("ping now", "1.2.3.4:5", 0.0)
    assert answer is not None and answer.startswith("pong 1.2.3.4:5 at ") and answer.endswith(": ping now")
    assert responder.answer("anything", "p", 0.0) == "收到"
    assert render("{text}{text}{nope}", "x", "p", 0.0) == "xx{nope}"


@pytest.mark.parametrize("rule", [{"match": "sometimes", "reply": "x"}, {"match": "regex", "pattern": "(", "reply": "x"},
                                  {"match": "contains", "reply": "x"}, {"match": "any", "reply": ""},
                                  {"match": "contains", "pattern": "x" * 201, "reply": "x"}])
def test_bad_rules_are_refused_and_change_nothing(rule: dict) -> None:  # type: ignore[type-arg]
    responder = AutoResponder()
    responder.set_rules([{"match": "any", "reply": "kept"}])
    with pytest.raises(RuleError):
        responder.set_rules([{"match": "any", "reply": "new"}, rule])
    assert responder.answer("x", "p", 0.0) == "kept"


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
    answers = [responder.answer("ping", "10.0.0.1:1", 0.0) for _ in range(50)]
    assert answers.count("again") == 5
    assert responder.answer("ping", "10.0.0.2:1", 0.0) == "again"  # another peer is not held back


def make_manager(allow: list[str] | None = None):  # type: ignore[no-untyped-def]
    from sockets_core.bus import Bus
    from sockets_core.packetlog import PacketLog
    from sockets_core.tools.sessions import ToolManager

    return ToolManager(Bus(), PacketLog(), "127.0.0.1", lambda: set(), allow)


def test_a_udp_reply_obeys_tools_allow_and_a_repeat_keeps_its_target() -> None:
    import gevent
    from gevent import socket

    from sockets_core.tools.sessions import ToolError

    manager = make_manager(["10.0.0.0/8"])
    udp = manager.open("udp", port=0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.sendto(b"hi", ("127.0.0.1", udp.local[1]))
    gevent.sleep(0.05)
    with pytest.raises(ToolError, match="outside --tools-allow"):
        udp.send(b"reply", None)  # the last sender is 127.0.0.1: not allowed
    open_manager = make_manager()
    udp2 = open_manager.open("udp", port=0)
    peer.sendto(b"first", ("127.0.0.1", udp2.local[1]))
    gevent.sleep(0.05)
    assert udp2.fix_target(None) == f"127.0.0.1:{peer.getsockname()[1]}"
    udp2.repeat(b"x", "a..b:9", 10, 2)  # a bad target: the repeat stops and says so
    gevent.sleep(0.1)
    assert any(e.info.startswith("repeat stopped") for e in udp2.events)
    peer.close()
    manager.close_all()
    open_manager.close_all()


def test_tcp_client_sends_and_kicked_or_closed_peers_are_tapped() -> None:
    import gevent
    from gevent import socket

    manager = make_manager()
    server = manager.open("tcp-server", port=0)
    client = manager.open("tcp-client", "127.0.0.1", server.local[1])
    gevent.sleep(0.05)
    client.send(b"hello", None)
    gevent.sleep(0.05)
    assert any(e.direction == "in" and e.data == b"hello" for e in server.events)
    other = socket.create_connection(("127.0.0.1", server.local[1]))
    gevent.sleep(0.05)
    assert manager.tap.counters.clients == 3  # the client's connection and two accepted ones
    server.send(b"to all", None)
    server.kick(server.peers()[0])
    manager.close_all()
    gevent.sleep(0.05)
    assert manager.tap.counters.clients == 0
    other.close()
