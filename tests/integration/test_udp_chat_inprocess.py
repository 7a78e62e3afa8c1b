"""The UDP chat adapter in-process on loopback: fan-out to many peers must not stall the
process (gevent sockets, no monkey-patching needed; every peer is a socket of this test)."""

from collections.abc import Iterator

import gevent
import pytest
from gevent import socket

from sockets_core.bus import Bus
from sockets_core.chat.hub import ChatEvent, ChatHub, Member
from sockets_core.logthrottle import MAX_LINES
from sockets_core.packetlog import PacketLog
from sockets_core.servers import udp_chat
from sockets_core.servers.listen import udp_socket
from sockets_core.servers.udp_chat import UdpChatServer
from sockets_core.traffic import ServiceTap
from tests.harness import wait_for

HOST = "127.0.0.1"


@pytest.fixture
def server() -> Iterator[UdpChatServer]:
    bus = Bus()
    # every peer of these tests is on 127.0.0.1: lift the per-address cap
    udp = UdpChatServer(udp_socket("udp_chat", HOST, 0), ServiceTap("udp_chat", "udp", PacketLog(bus)), ChatHub(bus),
                        max_per_ip=1000)
    sock = udp.socket
    yield udp
    udp.stop()
    sock.close()


@pytest.fixture
def peers() -> Iterator[list[socket.socket]]:
    made = []
    for _ in range(300):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST, 0))
        made.append(s)
    yield made
    for s in made:
        s.close()


def register(server: UdpChatServer, peers: list[socket.socket]) -> int:
    """Each peer says /rooms; returns the datagrams that makes: a reply each, and each
    join notice to the peers already there."""
    for peer in peers:
        server.handle(b"/rooms", peer.getsockname())
    return len(peers) + len(peers) * (len(peers) - 1) // 2


def sent_out(server: UdpChatServer, count: int, timeout: float = 20.0) -> None:
    wait_for(lambda: server.tap.counters.packets_out >= count, timeout, f"{count} datagrams sent", sleep=gevent.sleep)


@pytest.fixture(autouse=True)
def roomy_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registering 300 peers queues 45,150 datagrams at once: more than the default bound."""
    monkeypatch.setattr(udp_chat, "RELAY_QUEUE", 1_000_000, raising=False)


def test_handling_a_message_only_queues_it_once_for_every_peer(server: UdpChatServer,
                                                               peers: list[socket.socket]) -> None:
    register(server, peers)  # not started: nothing is sent by the sender
    before = server.tap.counters.packets_out
    server.handle(b"hello all", peers[0].getsockname())
    assert server.tap.counters.packets_out == before  # handling sent nothing itself
    last = server.outbox[-1]  # but queued the message once, for the 299 others
    assert last.event is not None and last.event.text == "hello all" and len(last.members) == 299


def test_the_sender_lets_others_run_while_it_fans_out(server: UdpChatServer, peers: list[socket.socket]) -> None:
    server.start()
    sent_out(server, register(server, peers))
    start = server.tap.counters.packets_out
    seen: list[int] = []

    def watch() -> None:  # another greenlet: the dashboard, say
        while server.tap.counters.packets_out < start + 20 * 299:
            seen.append(server.tap.counters.packets_out)
            gevent.sleep(0)  # the behaviour under test: how often the sender lets others run

    watcher = gevent.spawn(watch)
    for i in range(20):
        server.handle(b"message %d" % i, peers[0].getsockname())
    watcher.join(timeout=20)
    assert server.tap.counters.packets_out == start + 20 * 299
    between = {n for n in seen if start < n < start + 20 * 299}
    assert len(between) >= 50  # the watcher ran ~every 64 sends (SENDS_PER_YIELD), not once at the end


def test_the_queue_is_bounded_and_says_so_once(server: UdpChatServer, peers: list[socket.socket],
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(udp_chat, "RELAY_QUEUE", 500)
    register(server, peers[:100])
    server.outbox.clear()
    server.queued = server.dropped = 0
    for i in range(20):  # 20 x 99 datagrams, nobody sending
        server.handle(b"flood %d" % i, peers[0].getsockname())
    assert server.queued <= 500 and server.queued + server.dropped == 20 * 99
    assert server.queued == sum(len(item.members) for item in server.outbox)
    lines = [r for r in caplog.records if "waiting to be sent (limit)" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"


def test_peers_leaving_together_send_each_other_nothing(server: UdpChatServer, peers: list[socket.socket]) -> None:
    watcher: list[ChatEvent] = []
    server.hub.join(Member("watcher", "web", watcher.append), 0.0)
    server.start()
    sent_out(server, register(server, peers))
    before = server.tap.counters.packets_out
    server.stop()
    assert server.tap.counters.packets_out == before
    assert [e.kind for e in watcher].count("leave") == 300 and server.hub.rooms() == {"lobby": 1}


def test_too_many_peers_is_one_warning_not_one_per_datagram(server: UdpChatServer, peers: list[socket.socket],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(udp_chat, "MAX_PEERS", 2)
    register(server, peers[:50])
    assert len(server.peers) == 2
    lines = [r for r in caplog.records if "peers (limit)" in r.getMessage()]
    assert len(lines) == 1  # the other 47 are counted in the next line, 10 s later


def test_one_address_cannot_take_every_peer_slot(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    udp = UdpChatServer(udp_socket("udp_chat", HOST, 0), ServiceTap("udp_chat", "udp", PacketLog(bus)), ChatHub(bus),
                        max_per_ip=5)
    try:
        for port in range(40000, 40012):  # one host, twelve source ports
            udp.handle(b"hi", (HOST, port))
        assert sorted(p for _, p in udp.peers) == list(range(40000, 40005))
        assert [r for r in caplog.records if "--udp-chat-max-per-ip" in r.getMessage()], "the limit is logged"
        assert len([r for r in caplog.records if "--udp-chat-max-per-ip" in r.getMessage()]) == 1, "throttled"
        udp.handle(b"hi", ("127.0.0.2", 40000))  # another host is still served
        assert ("127.0.0.2", 40000) in udp.peers
        udp.handle(b"bye", (HOST, 40000))  # a peer that leaves frees its slot
        udp.handle(b"hi", (HOST, 40100))
        assert (HOST, 40100) in udp.peers and (HOST, 40000) not in udp.peers
        assert udp.per_ip == {HOST: 5, "127.0.0.2": 1}
    finally:
        sock = udp.socket
        udp.stop()
        sock.close()


def test_udp_peers_from_many_addresses_over_their_cap_write_at_most_the_log_cap(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    udp = UdpChatServer(udp_socket("udp_chat", "127.0.0.1", 0), ServiceTap("udp_chat", "udp", PacketLog(bus)),
                        ChatHub(bus), max_per_ip=1)
    try:
        for i in range(200):  # 200 addresses, two ports each: every second one refused and logged per address
            for port in (40000, 40001):
                udp.handle(b"hi", (f"127.0.{i // 200}.{i % 200 + 1}", port))
        assert len(udp.peers) == 200
        lines = [r for r in caplog.records if "--udp-chat-max-per-ip" in r.getMessage()]
        assert len(lines) == MAX_LINES
    finally:
        sock = udp.socket
        udp.stop()
        sock.close()
