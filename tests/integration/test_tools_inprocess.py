"""The Tools page's sessions (sockets_core.tools) on real loopback sockets: UDP replies and
repeats, TCP clients and servers, counters, ICMP reports, stalled peers, the WebSocket answers.
Moved from tests/unit (a unit test touches no socket); the payload, auto-response and ICMP
parsing tests stay there."""

import time
from typing import Any

import gevent
import pytest

from tests.harness import wait_for


def wait_until(predicate: Any, timeout: float = 2.0, what: str = "condition") -> Any:
    """Let gevent run (the sessions' greenlets) until ``predicate()`` holds."""
    return wait_for(predicate, timeout, what, sleep=gevent.sleep)


def make_manager(allow: list[str] | None = None):  # type: ignore[no-untyped-def]
    from sockets_core.bus import Bus
    from sockets_core.packetlog import PacketLog
    from sockets_core.tools.sessions import ToolManager

    return ToolManager(Bus(), PacketLog(), "127.0.0.1", lambda: set(), allow)


def test_a_udp_reply_obeys_tools_allow_and_a_repeat_keeps_its_target() -> None:
    from gevent import socket

    from sockets_core.tools.sessions import ToolError

    manager = make_manager(["10.0.0.0/8"])
    udp = manager.open("udp", port=0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.sendto(b"hi", ("127.0.0.1", udp.local[1]))
    wait_until(lambda: udp.counters.rx_count == 1, what="the datagram received")
    with pytest.raises(ToolError, match="outside --tools-allow"):
        udp.send(b"reply", None)  # the last sender is 127.0.0.1: not allowed
    open_manager = make_manager()
    udp2 = open_manager.open("udp", port=0)
    peer.sendto(b"first", ("127.0.0.1", udp2.local[1]))
    wait_until(lambda: udp2.counters.rx_count == 1, what="the datagram received")
    assert udp2.fix_target(None) == f"127.0.0.1:{peer.getsockname()[1]}"
    udp2.repeat(b"x", "a..b:9", 10, 2)  # a bad target: the repeat stops and says so
    wait_until(lambda: any(e.info.startswith("repeat stopped") for e in udp2.events), what="the repeat stopped")
    peer.close()
    manager.close_all()
    open_manager.close_all()


def test_tcp_client_sends_and_kicked_or_closed_peers_are_tapped() -> None:
    from gevent import socket

    manager = make_manager()
    server = manager.open("tcp-server", port=0)
    client = manager.open("tcp-client", "127.0.0.1", server.local[1])
    wait_until(lambda: len(server.peers()) == 1, what="the client accepted")
    client.send(b"hello", None)
    wait_until(lambda: any(e.direction == "in" and e.data == b"hello" for e in server.events), what="hello received")
    other = socket.create_connection(("127.0.0.1", server.local[1]))
    # the client's connection and two accepted ones
    wait_until(lambda: manager.tap.counters.clients == 3, what="three connections counted")
    server.send(b"to all", None)
    server.kick(server.peers()[0])
    manager.close_all()
    wait_until(lambda: manager.tap.counters.clients == 0, what="every connection closed")
    other.close()


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
        cleared = answer(json.dumps({"type": "clear", "session": opened["session"], "ref": "x"}))
        assert cleared == {"type": "done", "ref": "x"}
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
