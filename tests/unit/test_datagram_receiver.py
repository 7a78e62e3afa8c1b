"""DatagramReceiver: a TFTP transfer's wait for the next datagram, without a gevent Timeout
object per wait (servers/timed.py)."""

import socket
import time

import gevent
import pytest
from gevent import socket as gsocket

from sockets_core.servers.timed import DatagramReceiver


def _pair() -> tuple[gsocket.socket, gsocket.socket]:
    a = gsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = gsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    return a, b


def test_a_waiting_datagram_comes_at_once_and_a_quiet_socket_gives_none_at_the_deadline() -> None:
    a, b = _pair()
    receiver = DatagramReceiver(a)
    with a, b:
        b.sendto(b"ack", a.getsockname())
        gevent.sleep(0.01)
        assert receiver.receive(time.monotonic() - 1) == (b"ack", b.getsockname())  # already there: read
        started = time.monotonic()
        assert receiver.receive(started + 0.1) is None
        assert time.monotonic() - started >= 0.1
        assert receiver.receive(time.monotonic() - 1) is None  # past and nothing there
        gevent.spawn_later(0.05, b.sendto, b"later", a.getsockname())
        assert receiver.receive(time.monotonic() + 5) == (b"later", b.getsockname())
        assert receiver.receive(time.monotonic() + 0.05) is None
        receiver.close()


def test_one_timer_serves_many_waits_whose_deadline_moves_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock-step case: each block's wait has a deadline a little later than the last.
    The timer is set again only when it fires early, not once a wait; and a timer set for
    an early deadline never ends a later wait before its own deadline."""
    a, b = _pair()
    receiver = DatagramReceiver(a)
    timers = []
    set_timer = receiver._set_timer
    monkeypatch.setattr(receiver, "_set_timer", lambda hub, at: (timers.append(at), set_timer(hub, at)))

    def echo(count: int) -> None:
        for _ in range(count):
            data, source = b.recvfrom(100)
            b.sendto(data, source)

    with a, b:
        helper = gevent.spawn(echo, 200)
        for i in range(200):
            a.sendto(b"%d" % i, b.getsockname())
            assert receiver.receive(time.monotonic() + 1.0) == (b"%d" % i, b.getsockname())
        helper.join(5)
        assert len(timers) == 1  # was: a gevent Timeout started and closed per wait
        started = time.monotonic()
        assert receiver.receive(started + 0.05) is None  # an earlier deadline: a new timer
        receiver._timer_at = started + 0.01  # as if the timer ran for an older, earlier deadline
        receiver._set_timer(gevent.get_hub(), started + 0.01)
        began = time.monotonic()
        assert receiver.receive(began + 0.15) is None
        assert time.monotonic() - began >= 0.15  # the early timer set itself again, did not end the wait
        receiver.close()


def test_a_close_from_another_greenlet_wakes_the_wait() -> None:
    a, b = _pair()
    receiver = DatagramReceiver(a)
    with b:
        gevent.spawn_later(0.05, a.close)
        started = time.monotonic()
        with pytest.raises(OSError):
            receiver.receive(started + 5)
        assert time.monotonic() - started < 2
        receiver.close()


def test_a_plain_socket_is_read_the_plain_way() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
        a.bind(("127.0.0.1", 0))
        receiver = DatagramReceiver(a)
        assert receiver.receive(time.monotonic() + 0.05) is None
        b.sendto(b"dgram", a.getsockname())
        received = receiver.receive(time.monotonic() + 5)
        assert received is not None and received[0] == b"dgram"
