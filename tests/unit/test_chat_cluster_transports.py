"""Two instances (two ChatHubs on one in-memory bus and one MemoryPresence) with their real
adapters in this process: a TCP client on instance A and a UDP peer on instance B talk in
one room, each line once; their consumer greenlets run as in a cluster (hub.start)."""

from collections.abc import Iterator

import gevent
import pytest
from gevent import socket

from sockets_core.bus import Bus
from sockets_core.chat.hub import ChatHub
from sockets_core.chat.presence import MemoryPresence
from sockets_core.packetlog import PacketLog
from sockets_core.servers.listen import tcp_listener, udp_socket
from sockets_core.servers.tcp_chat import TcpChatServer
from sockets_core.servers.udp_chat import UdpChatServer
from sockets_core.traffic import ServiceTap
from tests.harness import wait_for

HOST = "127.0.0.1"


class Instance:
    def __init__(self, bus: Bus, presence: MemoryPresence, name: str) -> None:
        self.hub = ChatHub(bus, presence=presence, instance=name)
        self.hub.start()
        log = PacketLog(bus)
        self.tcp = TcpChatServer(tcp_listener("tcp_chat", HOST, 0), ServiceTap("tcp_chat", "tcp", log), self.hub)
        self.udp = UdpChatServer(udp_socket("udp_chat", HOST, 0), ServiceTap("udp_chat", "udp", log), self.hub)
        self.tcp.start()
        self.udp.start()

    def stop(self) -> None:
        for server in (self.tcp, self.udp):
            sock = server.socket
            server.stop()
            sock.close()
        self.hub.stop()


@pytest.fixture
def cluster() -> Iterator[tuple[Instance, Instance]]:
    bus, presence = Bus(), MemoryPresence()
    a, b = Instance(bus, presence, "A"), Instance(bus, presence, "B")
    yield a, b
    a.stop()
    b.stop()


class Lines:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.text = sock, ""

    def read(self) -> bool:
        """Take what arrived within the socket's timeout; False once the peer closed."""
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        self.text += data.decode()
        return bool(data)

    def until(self, needle: str) -> str:
        wait_for(lambda: needle in self.text or not self.read() or needle in self.text, 5.0, repr(needle),
                 sleep=gevent.sleep)
        return self.text


def test_a_tcp_client_on_a_and_a_udp_peer_on_b_hear_each_other_once(cluster: tuple[Instance, Instance]) -> None:
    a, b = cluster
    with socket.create_connection((HOST, a.tcp.server_port), timeout=0.2) as tcp, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp_in = Lines(tcp)
        tcp_in.until("welcome")
        tcp.sendall(b"/nick tina\n")
        tcp_in.until("you are now tina")
        udp.bind((HOST, 0))
        udp.settimeout(0.2)
        udp.sendto(b"/nick uma\n", (HOST, b.udp.server_port))
        udp_in = Lines(udp)
        udp_in.until("you are now uma")
        tcp.sendall(b"/who\n")
        assert "in #lobby: tina (tcp), uma (udp)" in tcp_in.until("uma (udp)")  # B's peer, listed on A
        tcp.sendall(b"from tcp on A\n")
        udp.sendto(b"from udp on B\n", (HOST, b.udp.server_port))
        udp.sendto(b"/msg TINA psst\n", (HOST, b.udp.server_port))
        tcp_in.until("(private) <uma> psst")
        udp_in.until("<tina> from tcp on A")
        for _ in range(3):  # anything sent twice would arrive within these reads
            tcp_in.read()
            udp_in.read()
        assert tcp_in.text.count("from udp on B") == 1 and tcp_in.text.count("psst") == 1
        assert udp_in.text.count("from tcp on A") == 1
        tcp.sendall(b"/nick uma\n")  # B's peer holds it
        assert "nick uma is taken" in tcp_in.until("is taken")


def test_a_tcp_client_whose_nick_another_instance_holds_is_told_and_closed() -> None:
    class Taken(MemoryPresence):
        def claim(self, nick: str, instance: str) -> bool:
            return False  # every nick is held elsewhere

    instance = Instance(Bus(), Taken(), "A")
    try:
        with socket.create_connection((HOST, instance.tcp.server_port), timeout=0.2) as tcp:
            lines = Lines(tcp)
            assert "is taken; connect again" in lines.until("connect again")
            wait_for(lambda: not lines.read(), 5.0, "closed", sleep=gevent.sleep)
        assert instance.hub.members == {}
    finally:
        instance.stop()
