"""A bounded send queue per TCP client, flushed by one shared greenlet.

Whoever delivers to a client never waits. A client that has not been written to for
COALESCE seconds gets the bytes at once (a non-blocking send: a quiet chat has no added
latency). Under load, bytes for a client are queued and one shared Flusher greenlet
sends each client's queue joined into one send() every COALESCE seconds. The chat
fan-out benchmark (bench/chat_fanout.py, docs/BENCHMARKS.md) showed why: 550 receivers
at 200 msg/s is 110,000 sends a second, and the send() syscall was 74% of the profile;
coalescing cuts that to at most 1/COALESCE sends per client per second.

What the kernel does not take stays queued for the next round. When a client's unsent
bytes would pass ``limit`` it is cut off (its socket shut down, which ends its reader)
and the reason is logged: a reader that stopped reading pins at most ``limit`` bytes.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import deque
from collections.abc import Callable

import gevent

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 256 * 1024
COALESCE = 0.02
EAGER_BYTES = 16 * 1024


class Flusher:
    """One greenlet that sends every dirty queue's bytes every COALESCE seconds."""

    def __init__(self) -> None:
        self.dirty: dict[int, "OutboundQueue"] = {}
        self._greenlet: gevent.Greenlet | None = None

    def schedule(self, queue: "OutboundQueue") -> None:
        self.dirty[id(queue)] = queue
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while self.dirty:
            gevent.sleep(COALESCE)
            queues, self.dirty = self.dirty, {}
            for queue in queues.values():
                if queue.send_queued():
                    self.dirty[id(queue)] = queue  # the kernel was full: try next round


FLUSHER = Flusher()


class OutboundQueue:
    def __init__(self, sock: socket.socket, describe: str, on_sent: Callable[[bytes], None],
                 limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.pending = 0  # bytes accepted but not yet taken by the kernel
        self.overflowed = False
        self.closed = False
        self._sock = sock
        self._describe = describe
        self._on_sent = on_sent
        self._chunks: deque[bytes] = deque()
        self._last_send = 0.0

    def put(self, data: bytes) -> None:
        if self.overflowed or self.closed or not data:
            return
        now = time.monotonic()
        if not self._chunks and now - self._last_send >= COALESCE:
            self._last_send = now
            data = self._send_now(data)
            if not data:
                return
        self._chunks.append(data)
        self.pending += len(data)
        if self.pending >= EAGER_BYTES:
            self.send_queued()  # a burst: don't wait for the tick while the reader keeps up
        if self.pending > self.limit:
            self.overflowed = True
            log.warning("%s: more than %d bytes unsent (slow reader): disconnecting",
                        self._describe, self.limit)
            self._shutdown()
        elif self._chunks:
            FLUSHER.schedule(self)

    def _send_now(self, data: bytes) -> bytes:
        """Send what the kernel takes without waiting; return the rest."""
        try:
            sent = self._sock.send(data, 0, 0.0)  # gevent: timeout 0.0 never waits
        except BlockingIOError:
            return data
        except OSError:
            self._shutdown()
            return b""
        if sent:
            self._on_sent(data[:sent])
        return data[sent:]

    def send_queued(self) -> bool:
        """Send the queue as one chunk; True if something is still left."""
        if self.closed or not self._chunks:
            return False
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._last_send = time.monotonic()
        rest = self._send_now(data)
        self.pending = len(rest)
        if rest and not self.closed:
            self._chunks.append(rest)
            return True
        return False

    def _shutdown(self) -> None:
        self.closed = True
        self._chunks.clear()
        self.pending = 0
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def flush(self, timeout: float = 1.0) -> None:
        """Give queued bytes up to ``timeout`` seconds to leave (a farewell line)."""
        with gevent.Timeout(timeout, False):
            while self._chunks and not self.closed:
                self.send_queued()
                if self._chunks:
                    gevent.sleep(0.01)

    def stop(self) -> None:
        self.closed = True
        self._chunks.clear()
