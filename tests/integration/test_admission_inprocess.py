"""The accept loop in-process on loopback: a connection over the cap gets one line (or, for
the file service, nothing) and is closed while the first is served, and accept() failing
with EMFILE pauses and resumes. (The admission logic itself: tests/unit/test_admission.py.)"""

from __future__ import annotations

import errno
import logging
import os
import socket as stdlib_socket
from typing import Any

import gevent
import pytest
from gevent import socket
from gevent.server import StreamServer

from sockets_core.bus import Bus
from sockets_core.packetlog import PacketLog
from sockets_core.servers.accept import ACCEPT_PAUSE
from sockets_core.servers.admission import Admission, FdBudget
from sockets_core.servers.listen import tcp_listener
from sockets_core.servers.stream import Address, TappedStreamServer
from sockets_core.traffic import ServiceTap


class Greeter(TappedStreamServer):
    def serve_client(self, sock: stdlib_socket.socket, peer: Address, local: Address) -> str:
        sock.sendall(b"hello\n")
        while sock.recv(100):
            pass
        return "peer"


def greeter(per_ip: int, service: str = "tcp_chat") -> Greeter:
    bus = Bus()
    tap = ServiceTap(service, "tcp", PacketLog(bus))
    gate = Admission(service, per_ip, 100, FdBudget(reserve=0, limit=1000, counter=lambda: None), 0)
    server = Greeter(tcp_listener(service, "127.0.0.1", 0), tap, gate)
    server.start()
    return server


def read_all(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    data = b""
    while chunk := sock.recv(100):
        data += chunk
    return data


def test_over_the_cap_gets_one_line_and_is_closed_while_the_first_is_served() -> None:
    server = greeter(per_ip=1)
    try:
        first = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        assert first.recv(100) == b"hello\n"
        second = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        with second:
            assert read_all(second) == b"* too many connections from your address; try again later\n"
        assert server.tap.counters.clients == 1 and server.admission.open == 1
        first.close()
        third = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        with third:
            assert third.recv(100) == b"hello\n"  # the slot came back when the first left
    finally:
        server.stop(timeout=1)
    assert server.admission.open == 0  # stop() ends every connection and frees its slot


def test_file_service_refuses_without_a_word() -> None:
    server = greeter(per_ip=1, service="file")
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as first:
            assert first.recv(100) == b"hello\n"
            with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as second:
                assert read_all(second) == b""
    finally:
        server.stop(timeout=1)


def test_accept_out_of_descriptors_pauses_and_resumes(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    failures = {"left": 3}
    real_do_read = StreamServer.do_read

    def out_of_descriptors(self: StreamServer) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_do_read(self)

    monkeypatch.setattr(StreamServer, "do_read", out_of_descriptors)
    server = greeter(per_ip=5)
    try:
        with caplog.at_level(logging.WARNING), \
                socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as client:
            client.settimeout(3 * ACCEPT_PAUSE + 5)
            assert client.recv(100) == b"hello\n"  # served once accept() works again
        assert server.accept_failures == 3
        warnings = [r.getMessage() for r in caplog.records if "accept failed" in r.getMessage()]
        assert len(warnings) == 1 and "Too many open files" in warnings[0] and "tcp_chat" in warnings[0]
    finally:
        server.stop(timeout=1)
        gevent.sleep(0)  # one turn of the hub: the stopped server's greenlets close their sockets
