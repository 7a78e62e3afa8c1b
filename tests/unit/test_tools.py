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


@pytest.mark.parametrize("rule", [{"match": "sometimes", "reply": "x"}, {"match": "regex", "pattern": "(", "reply": "x"},
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


def wait_until(predicate, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    """Let gevent run until ``predicate()`` holds (a bounded wait on a condition, not a sleep)."""
    import gevent

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        gevent.sleep(0.01)


def test_a_session_is_announced_before_its_first_event() -> None:
    from sockets_core.tools.sessions import TOOLS_TOPIC

    manager = make_manager()
    with manager.bus.subscribe([TOOLS_TOPIC]) as sub:
        udp = manager.open("udp", port=0)
        items = [item for _, item in sub.get_batch(timeout=0).items]
    assert "state" in items[0] and items[0]["session"] == udp.id
    assert items[1]["event"]["info"].startswith("bound to") and items[1]["event"]["seq"] == 1
    manager.close_all()


def test_counters_count_every_byte_and_clear_forgets_events_and_counts() -> None:
    from gevent import socket

    from sockets_core.tools.base import MAX_EVENT_BYTES
    from sockets_core.tools.sessions import TOOLS_TOPIC

    manager = make_manager()
    udp = manager.open("udp", port=0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.sendto(b"hello", ("127.0.0.1", udp.local[1]))
    peer.sendto(b"x" * (MAX_EVENT_BYTES + 100), ("127.0.0.1", udp.local[1]))
    wait_until(lambda: udp.counters.rx_count == 2)
    udp.send(b"abc", f"127.0.0.1:{peer.getsockname()[1]}")
    assert udp.describe()["counters"] == {"rx_bytes": 5 + MAX_EVENT_BYTES + 100, "rx_count": 2,
                                          "tx_bytes": 3, "tx_count": 1}
    big = [e for e in udp.events if e.direction == "in"][1]
    assert big.length == MAX_EVENT_BYTES + 100 and len(big.data) == MAX_EVENT_BYTES  # the true length is kept
    with manager.bus.subscribe([TOOLS_TOPIC]) as sub:
        udp.clear()
        items = [item for _, item in sub.get_batch(timeout=0).items]
    assert items[0] == {"session": udp.id, "cleared": True}
    assert items[1]["state"]["counters"] == {"rx_bytes": 0, "rx_count": 0, "tx_bytes": 0, "tx_count": 0}
    assert list(udp.events) == [] and manager.snapshot()[0]["events"] == []
    udp.send(b"after", f"127.0.0.1:{peer.getsockname()[1]}")
    assert udp.events[-1].seq > big.seq  # sequence numbers go on: a page never mistakes new for old
    peer.close()
    manager.close_all()


def test_a_repeat_shows_as_running_until_stopped() -> None:
    from gevent import socket

    manager = make_manager()
    udp = manager.open("udp", port=0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    udp.repeat(b"tick", f"127.0.0.1:{peer.getsockname()[1]}", 10, 10_000)
    assert udp.describe()["repeating"] == 1
    wait_until(lambda: udp.counters.tx_count >= 3)
    udp.stop_repeats()
    sent = udp.counters.tx_count
    assert udp.describe()["repeating"] == 0
    assert udp.events[-1].info == "stopped 1 repeat"
    udp.repeat(b"tock", f"127.0.0.1:{peer.getsockname()[1]}", 10, 2)  # a short one ends by itself
    wait_until(lambda: udp.describe()["repeating"] == 0)
    assert udp.counters.tx_count == sent + 2
    peer.close()
    manager.close_all()


def test_the_session_keeps_its_encoding() -> None:
    from sockets_core.tools.sessions import ToolError

    manager = make_manager()
    udp = manager.open("udp", port=0)
    assert udp.describe()["encoding"] == "utf-8"
    udp.set_encoding("gbk")
    assert manager.snapshot()[0]["encoding"] == "gbk"
    with pytest.raises(ToolError, match="unknown encoding"):
        udp.set_encoding("ebcdic")
    manager.close_all()


def test_udp_tool_traffic_is_udp_in_the_packet_log() -> None:
    from gevent import socket

    from sockets_core.bus import Bus
    from sockets_core.packetlog import PacketLog
    from sockets_core.tools.sessions import ToolManager

    packetlog = PacketLog()
    manager = ToolManager(Bus(), packetlog, "127.0.0.1", lambda: set())
    udp = manager.open("udp", port=0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    udp.send(b"ping", f"127.0.0.1:{peer.getsockname()[1]}")
    event = packetlog.events(service="tools")[-1]
    assert (event.transport, event.direction, event.length) == ("udp", "out", 4)
    peer.close()
    manager.close_all()


def test_a_closed_port_is_reported_from_its_icmp_error_at_once() -> None:
    from gevent import socket

    manager = make_manager()
    udp = manager.open("udp", port=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a port with nobody on it
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    started = time.monotonic()
    udp.send(b"anyone?", f"127.0.0.1:{closed}")
    wait_until(lambda: any("port unreachable" in e.info for e in udp.events), timeout=1.0)
    assert time.monotonic() - started < 1.0
    report = next(e for e in udp.events if "port unreachable" in e.info)
    assert report.peer == f"127.0.0.1:{closed}" and f"nothing listens on 127.0.0.1:{closed}" in report.info
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # and the socket still receives
    peer.sendto(b"still here", ("127.0.0.1", udp.local[1]))
    wait_until(lambda: any(e.data == b"still here" for e in udp.events))
    peer.close()
    manager.close_all()


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
    assert router.describe("[2001:db8::5]:69").endswith("(ICMPv6 type 1 code 3 from fe80::1) sending to [2001:db8::5]:69")
    local = icmp.parse_extended_error(socket.IPPROTO_IP, icmp.IP_RECVERR, sock_extended_err(errno.EMSGSIZE, 1, 0, 0, b""))
    assert local is not None and local.offender is None
    assert icmp.parse_extended_error(socket.SOL_SOCKET, 1, bytes(16)) is None  # not an extended error
    assert icmp.parse_extended_error(socket.IPPROTO_IP, icmp.IP_RECVERR, b"short") is None


def test_the_websocket_answer_carries_the_ref_of_its_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from sockets_core.bus import Bus
    from sockets_core.files import FileStore
    from sockets_core.packetlog import PacketLog
    from sockets_core.services import Services
    from sockets_core.settings import Settings
    from webapp import create_app
    from webapp.tools_ws import answer

    bus = Bus()
    services = Services(Settings(root=tmp_path), bus, PacketLog(bus), FileStore(tmp_path))
    app = create_app(services, "unit-test-token", [], {"TESTING": True})
    with app.app_context():
        assert answer(json.dumps({"type": "close", "session": 99, "ref": "session-99"})) == {
            "type": "error", "text": "no such session", "ref": "session-99"}
        opened = answer(json.dumps({"type": "open", "tool": "udp", "port": 0, "ref": "open-udp"}))
        assert opened is not None and opened["type"] == "opened" and opened["ref"] == "open-udp"
        assert answer(json.dumps({"type": "clear", "session": opened["session"], "ref": "x"})) == {"type": "done", "ref": "x"}
        assert answer("[1, 2]") == {"type": "error", "text": "a request is a JSON object"}
        assert answer("{not json")["type"] == "error"  # type: ignore[index]
    services.tools.close_all()


def test_a_send_to_a_peer_that_reads_nothing_is_abandoned_with_a_warning(monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    from gevent import socket

    from sockets_core.tools import base
    from sockets_core.tools.sessions import ToolError

    monkeypatch.setattr(base, "SEND_TIMEOUT", 0.2)
    manager = make_manager()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = manager.open("tcp-client", "127.0.0.1", listener.getsockname()[1])
    stalled, _ = listener.accept()  # accepted, and never read
    with caplog.at_level("WARNING"), pytest.raises(ToolError, match="read nothing for 0 s: send abandoned"):
        for _ in range(1000):  # until the kernel's buffers are full
            client.send(b"x" * 65536, None)
    warnings = [r for r in caplog.records if "read nothing" in r.getMessage()]
    assert len(warnings) == 1 and f"127.0.0.1:{listener.getsockname()[1]}" in warnings[0].getMessage()
    with pytest.raises(ToolError):  # again: refused as before, but the log is not flooded
        for _ in range(1000):
            client.send(b"x" * 65536, None)
    assert len([r for r in caplog.records if "read nothing" in r.getMessage()]) == 1
    stalled.close()
    listener.close()
    manager.close_all()
