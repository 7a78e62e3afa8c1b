"""The one receive-until-a-deadline helper the TCP chat (line pauses) and TFTP (timers) share."""

import socket
import time

from sockets_core.servers.timed import call_until, receive_until


def test_a_deadline_already_past_returns_none_without_receiving() -> None:
    a, b = socket.socketpair()
    with a, b:
        b.sendall(b"waiting")
        calls = []
        assert call_until(a, time.monotonic() - 1, lambda: calls.append(1) or a.recv(10)) is None
        assert calls == []  # nothing was read: the bytes stay for the next call
        assert call_until(a, None, lambda: a.recv(10)) == b"waiting"


def test_a_quiet_socket_gives_none_at_the_deadline_and_data_before_it() -> None:
    a, b = socket.socketpair()
    with a, b:
        started = time.monotonic()
        assert call_until(a, started + 0.05, lambda: a.recv(10)) is None
        assert time.monotonic() - started >= 0.05
        b.sendall(b"x")
        assert call_until(a, time.monotonic() + 5, lambda: a.recv(10)) == b"x"
        b.close()
        assert call_until(a, time.monotonic() + 5, lambda: a.recv(10)) == b""  # a close is not a timeout


def test_datagrams_go_through_the_same_helper() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.bind(("127.0.0.1", 0))
        assert receive_until(a, time.monotonic() - 1) is None
        b.sendto(b"dgram", a.getsockname())
        received = receive_until(a, time.monotonic() + 5)
        assert received is not None and received[0] == b"dgram"
