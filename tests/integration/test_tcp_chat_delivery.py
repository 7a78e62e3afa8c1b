"""The TCP chat's delivery in-process (gevent sockets, no monkey-patching): output queues
written in rounds, bounded with a notice, and lines not cut by the server's own delays."""

from __future__ import annotations

import contextlib
import logging
import socket as stdsocket
import threading
import time
from collections.abc import Iterator

import gevent
import pytest
from gevent import socket

from sockets_core.chat.hub import ChatEvent, ChatHub, Member
from sockets_core.packetlog import PacketLog
from sockets_core.servers.outbound import DeliveryCounters, Flusher, OutboundQueue
from sockets_core.servers.tcp_chat import TcpChatServer
from sockets_core.traffic import ServiceTap
from tests.harness import wait_for


class Recorder:
    """The queue's on_sent: what each send() took and whether it was private."""

    def __init__(self) -> None:
        self.sends: list[tuple[bytes, bool]] = []

    def __call__(self, data: bytes, private: bool) -> None:
        self.sends.append((bytes(data), private))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def read_all(sock: socket.socket, until: bytes) -> bytes:
    data = b""
    sock.settimeout(5)
    while until not in data:
        chunk = sock.recv(1 << 16)
        assert chunk, f"closed before {until!r}"
        data += chunk
    return data


def test_lines_for_a_busy_hub_go_out_in_one_send(pair: tuple[socket.socket, socket.socket]) -> None:
    """The regression: when each fan-out took longer than the coalescing interval, every line
    was a send() of its own (the queue looked quiet every time)."""
    ours, theirs = pair
    sent = Recorder()
    queue = OutboundQueue(ours, "test", sent, flusher=Flusher(interval=0.02))
    for i in range(5):
        queue.put(b"line %d\n" % i)
        time.sleep(0.03)  # a fan-out to 2,000 members holding the hub (blocks it: no greenlet runs)
    wait_for(lambda: not queue.pending, what="the round", sleep=gevent.sleep)
    assert sent.sends == [(b"line 0\nline 1\nline 2\nline 3\nline 4\n", False)]
    assert read_all(theirs, b"line 4\n") == sent.sends[0][0]


def test_a_quiet_chat_is_written_at_once(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    flusher = Flusher(interval=10.0)  # a round waits 10 s after the last: only the first goes at once
    queue = OutboundQueue(ours, "test", Recorder(), flusher=flusher)
    queue.put(b"hello\n")
    started = time.monotonic()
    assert read_all(theirs, b"hello\n") == b"hello\n"
    assert time.monotonic() - started < 1.0


def test_a_reader_that_stops_is_told_what_it_missed(pair: tuple[socket.socket, socket.socket],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    ours, theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    counters = DeliveryCounters(queue_bytes=10_000)
    queue = OutboundQueue(ours, "tcp_chat 10.0.0.7:5000", Recorder(), limit=10_000, counters=counters,
                          flusher=Flusher(interval=0.0))
    line = b"y" * 99 + b"\n"
    with caplog.at_level(logging.WARNING):
        for _ in range(2_000):  # 200 KB to a reader that reads nothing meanwhile
            queue.put(line)
            assert queue.pending <= 10_000  # memory stays bounded all along
            gevent.sleep(0)  # the flusher's rounds run: the kernel takes what it can
    assert counters.overflows > 0 and counters.dropped_lines > 1_000
    assert counters.dropped_bytes == counters.dropped_lines * 100
    queue.put(b"last\n")
    theirs.setblocking(False)
    data = b""

    def read() -> bool:
        nonlocal data
        with contextlib.suppress(BlockingIOError):
            data += theirs.recv(1 << 16)
        return data.endswith(b"last\n")

    wait_for(read, what="the rest", sleep=gevent.sleep)
    missed = sum(int(part.split(b" ")[0]) for part in data.split(b"* you missed ")[1:])
    assert missed == counters.dropped_lines
    assert data.count(line) + missed == 2_000  # nothing silently lost, no line cut
    assert data.replace(line, b"").count(b"\n") == data.count(b"* you missed ") + 1
    assert "tcp_chat 10.0.0.7:5000: more than 10000 bytes waiting for a slow reader (--tcp-chat-queue-bytes)" \
        in caplog.text


def test_private_bytes_are_marked_through_partial_sends(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sent = Recorder()
    queue = OutboundQueue(ours, "test", sent, limit=1 << 20, flusher=Flusher(interval=0.0))
    public, secret = b"p" * 49_999 + b"\n", b"(private) <ann> hi\n"
    queue.put(public)  # far more than the kernel takes at once
    queue.put(secret, private=True)
    queue.put(public)
    received = b""
    theirs.settimeout(5)
    while len(received) < 2 * len(public) + len(secret):
        received += theirs.recv(1 << 16)
        gevent.sleep(0.001)
    wait_for(lambda: not queue.pending, what="all sent", sleep=gevent.sleep)
    assert received == public + secret + public
    offset = 0
    for data, private in sent.sends:  # private exactly when the send carried a byte of the secret
        start = len(public)
        assert private == (offset < start + len(secret) and offset + len(data) > start), (offset, len(data))
        offset += len(data)
    assert any(private for _, private in sent.sends)


def test_a_line_is_not_cut_by_a_pause_that_was_the_servers() -> None:
    """The framer ends a line at a 300 ms pause of the client. A fan-out that held the hub
    longer than that, while the rest of the line waited in the socket, cut it in two: at
    1,800 receivers a message every ~1.6 s was lost to every one (the regex of the bench,
    as a reader, no longer found it)."""
    hub = ChatHub()

    def slow_delivery(event: ChatEvent) -> None:
        if event.text == "first":
            time.sleep(0.5)  # a fan-out to thousands holding the hub (blocks it: nothing reads meanwhile)

    hub.join(Member("slowpoke", "web", slow_delivery), time.time())
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    tap = ServiceTap("tcp_chat", "tcp", PacketLog())
    server = TcpChatServer(listener, tap, hub)
    server.start()
    port = listener.getsockname()[1]
    reader = socket.create_connection(("127.0.0.1", port))
    talker = stdsocket.create_connection(("127.0.0.1", port))  # a plain socket, sent to from a thread

    def talk() -> None:
        talker.sendall(b"first\nhel")
        time.sleep(0.15)  # the client's pause is short; the server is still busy with "first"
        talker.sendall(b"lo there\n")

    try:
        read_all(reader, b"/help")
        wait_for(lambda: len(hub.members) == 3, what="all joined", sleep=gevent.sleep)
        thread = threading.Thread(target=talk)
        thread.start()
        said = read_all(reader, b"there\n")
        thread.join()
        assert said.rstrip(b"\n").split(b"\n")[-1].endswith(b"> hello there")
        assert b"> hel\n" not in said
    finally:
        reader.close()
        talker.close()
        server.stop(timeout=1)


def test_a_failing_queue_does_not_stall_the_others(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, _ = pair
    other_ours, other_theirs = socket.socketpair()

    def broken(data: bytes, private: bool) -> None:
        raise RuntimeError("a bug in one client's callback")

    flusher = Flusher(interval=0.0)
    failing = OutboundQueue(ours, "failing", broken, flusher=flusher)
    fine = OutboundQueue(other_ours, "fine", Recorder(), flusher=flusher)
    try:
        failing.put(b"one\n")
        fine.put(b"two\n")
        assert read_all(other_theirs, b"two\n") == b"two\n"
        fine.put(b"three\n")  # the flusher still runs rounds
        assert read_all(other_theirs, b"three\n") == b"three\n"
        wait_for(lambda: failing.closed, what="the failing queue cut", sleep=gevent.sleep)
    finally:
        other_ours.close()
        other_theirs.close()
