"""The UDP chat's peer TTL runs on the clock it is given (monotonic), never the wall clock."""

import time
from collections.abc import Iterator

import pytest

from sockets_core.bus import Bus
from sockets_core.chat.hub import ChatHub
from sockets_core.packetlog import PacketLog
from sockets_core.servers.listen import udp_socket
from sockets_core.servers.udp_chat import UdpChatServer
from sockets_core.traffic import ServiceTap


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[UdpChatServer]:
    udp = UdpChatServer(udp_socket("udp_chat", "127.0.0.1", 0), ServiceTap("udp_chat", "udp", PacketLog()),
                        ChatHub(Bus()), peer_ttl=60.0, clock=clock)
    sock = udp.socket
    yield udp
    udp.stop()
    sock.close()


def test_peers_expire_after_the_ttl_of_the_clock_passed_in(server: UdpChatServer, clock: FakeClock) -> None:
    server.handle(b"hello", ("127.0.0.1", 40001))
    clock.now += 30
    server.handle(b"still here", ("127.0.0.1", 40002))
    clock.now += 31  # the first is 61 s silent, the second 31 s
    server._expire(clock())
    assert list(server.peers) == [("127.0.0.1", 40002)]


def test_a_wall_clock_step_neither_expires_nor_keeps_peers(server: UdpChatServer, clock: FakeClock,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 86_400)  # the wall clock steps back a day
    server.handle(b"hello", ("127.0.0.1", 40001))
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400)  # and then forward two
    server._expire(clock())
    assert list(server.peers) == [("127.0.0.1", 40001)]  # not expired by the forward step
    clock.now += 61
    server._expire(clock())
    assert server.peers == {}  # nor kept for a day by the backward one
