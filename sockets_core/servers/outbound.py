"""A bounded send queue per TCP chat client, written in rounds by one shared flusher.

Whoever delivers to a client never waits: ``put`` appends bytes (a room event's line is the
one bytes object the event rendered for that encoding, shared by every member, not a copy)
and marks the queue dirty. One Flusher greenlet sends each dirty queue, joined, with one
send() per round. A round starts at the next turn of the loop when the last one ended
COALESCE s ago (a quiet chat goes out at once), else COALESCE s after the last one ended, so
under load each round takes more lines per send and the number of sends per second stays
put. A round yields every SLICE sends, so readers and the hub run in between.

Why: the earlier rule, "a client not written to for COALESCE s is written at once", fell
apart exactly under load. With 1,800 TCP members one event's fan-out took longer than
COALESCE, so every member was "quiet" again at the next event and every line became a send()
of its own: 360,000 a second at 200 msg/s, more than the core; the process fell seconds
behind (bench/chat_fanout.py; docs/BENCHMARKS.md, "Where 4,965 deliveries went").

What the kernel does not take stays queued for the next round. When a client's unsent bytes
pass ``limit`` its oldest whole lines are dropped (down to half the limit, so a reader that
stays behind costs one drop per half-limit, not one per line) and in their place it gets
"* you missed N lines ...": a reader that stopped reading pins at most ``limit`` bytes and
is told what it lost. Each drop is counted (DeliveryCounters: /api/status) and logged as a
throttled WARNING naming --tcp-chat-queue-bytes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import gevent

from ..logthrottle import ThrottledWarning

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 256 * 1024
COALESCE = 0.02
SLICE = 256  # sends per round between two yields to the other greenlets
EAGER_BYTES = 16 * 1024
WARNING_INTERVAL = 10.0
_warnings = ThrottledWarning(log, WARNING_INTERVAL)


class PrivateBytes(bytes):
    """Queued bytes that carry a direct message: the packet log keeps their send private."""


@dataclass
class DeliveryCounters:
    """What the TCP chat's output queues dropped, by reason (``/api/status``)."""

    queue_bytes: int = DEFAULT_LIMIT  # the limit in force
    overflows: int = 0  # times a member's queue passed the limit (each time it was told)
    dropped_lines: int = 0  # lines dropped there
    dropped_bytes: int = 0
    send_failed: int = 0  # connections whose send failed (reset by the peer): what was queued is discarded
    discarded_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Flusher:
    """One greenlet that sends every dirty queue once per round (see the module's doc)."""

    def __init__(self, interval: float = COALESCE, slice_size: int = SLICE) -> None:
        self.interval = interval
        self.slice_size = slice_size
        self.rounds = 0
        self._dirty: list[OutboundQueue] = []
        self._greenlet: gevent.Greenlet[[], None] | None = None
        self._last_end = float("-inf")

    def schedule(self, queue: OutboundQueue) -> None:
        self._dirty.append(queue)
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        try:
            while self._dirty:
                # at least a turn of the loop: a round starts after the current greenlet yields
                gevent.sleep(max(0.0, self._last_end + self.interval - time.monotonic()))
                queues, self._dirty = self._dirty, []
                for index, queue in enumerate(queues, 1):
                    queue.dirty = False  # a put during a yield below queues it for the next round
                    try:
                        if queue.send_queued():  # the kernel was full: try next round
                            queue.mark_dirty()
                    except Exception:  # a bug in one client's callback must not stall every other queue
                        log.exception("%s: sending its queue failed; the connection is closed", queue.describe)
                        queue.cut()
                    if index % self.slice_size == 0:
                        gevent.sleep(0)
                self._last_end = time.monotonic()
                self.rounds += 1
        finally:
            self._greenlet = None


FLUSHER = Flusher()


class OutboundQueue:
    def __init__(self, sock: socket.socket, describe: str, on_sent: Callable[[bytes, bool], None],
                 limit: int = DEFAULT_LIMIT, counters: DeliveryCounters | None = None,
                 flusher: Flusher = FLUSHER) -> None:
        """``on_sent(data, private)``: the kernel took ``data``; ``private`` if it holds (part
        of) a direct message."""
        self.limit = limit
        self.pending = 0  # bytes accepted but not yet taken by the kernel
        self.closed = False
        self.dirty = False  # waiting for the flusher's next round
        self.counters = counters if counters is not None else DeliveryCounters(limit)
        self._sock = sock
        self.describe = describe
        self._on_sent = on_sent
        self._flusher = flusher
        self._chunks: deque[bytes] = deque()
        self._private = 0  # PrivateBytes chunks in _chunks
        self._head_started = False  # the kernel took part of the first chunk: it must go out whole
        self._notice: bytes | None = None  # the "you missed" line queued and not yet sent
        self._missed = 0  # lines that notice counts

    def put(self, data: bytes, private: bool = False) -> None:
        if self.closed or not data:
            return
        if private:
            data = PrivateBytes(data)
            self._private += 1
        self._chunks.append(data)
        self.pending += len(data)
        if self.pending > self.limit:
            self._drop_oldest()
        if self.pending >= EAGER_BYTES:
            self.send_queued()  # a burst: don't wait for the round while the reader keeps up
        if self._chunks and not self.dirty:
            self.mark_dirty()

    def mark_dirty(self) -> None:
        self.dirty = True
        self._flusher.schedule(self)

    def _drop_oldest(self) -> None:
        """Drop the oldest whole lines down to half the limit; tell the client how many."""
        chunks = self._chunks
        head = chunks.popleft() if self._head_started else None  # its start is out: it finishes
        if chunks and chunks[0] is self._notice:  # an earlier notice not yet sent: one notice counts both
            self.pending -= len(chunks.popleft())
        else:
            self._missed = 0
        lines = size = 0
        while chunks and self.pending > self.limit // 2:
            chunk = chunks.popleft()
            self.pending -= len(chunk)
            size += len(chunk)
            lines += chunk.count(b"\n")
            if isinstance(chunk, PrivateBytes):
                self._private -= 1
        self._missed += lines
        self._notice = (f"* you missed {self._missed} line{'' if self._missed == 1 else 's'}: more than "
                        f"{self.limit // 1024} KiB were waiting for your client to read\n").encode()
        chunks.appendleft(self._notice)
        self.pending += len(self._notice)
        if head is not None:
            chunks.appendleft(head)
        counters = self.counters
        counters.overflows += 1
        counters.dropped_lines += lines
        counters.dropped_bytes += size
        _warnings.warn("%s: more than %d bytes waiting for a slow reader (--tcp-chat-queue-bytes): dropped its "
                       "%d oldest lines and told it", self.describe, self.limit, lines, key=self.describe)

    def send_queued(self) -> bool:
        """Send the queue as one chunk; True if something is still left."""
        chunks = self._chunks
        if self.closed or not chunks:
            return False
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            sent = self._sock.send(data, 0, 0.0)  # type: ignore[call-arg]  # types-gevent lacks send's timeout; 0.0 never waits
        except BlockingIOError:
            return True
        except OSError:
            self.counters.send_failed += 1
            self.counters.discarded_bytes += self.pending
            self.cut()
            return False
        if sent == len(data):
            private = self._private > 0
            chunks.clear()
            self._private = 0
            self.pending = 0
            self._head_started = False
            self._notice = None
            self._on_sent(data, private)
            return False
        self._taken(sent, data)
        return True

    def _taken(self, sent: int, data: bytes) -> None:
        """The kernel took the first ``sent`` bytes of ``data`` (the chunks joined), not all."""
        chunks, left, private = self._chunks, sent, False
        while chunks and left >= len(chunks[0]):
            chunk = chunks.popleft()
            left -= len(chunk)
            if chunk is self._notice:
                self._notice = None
            if isinstance(chunk, PrivateBytes):
                private = True
                self._private -= 1
        if left:
            head = chunks[0]
            private = private or isinstance(head, PrivateBytes)
            chunks[0] = PrivateBytes(head[left:]) if isinstance(head, PrivateBytes) else head[left:]
            if head is self._notice:
                self._notice = None  # begun: it is no longer a notice that a later drop may merge
        self._head_started = bool(left) or (self._head_started and sent == 0)
        self.pending -= sent
        if sent:
            self._on_sent(data[:sent], private)

    def cut(self) -> None:
        """Drop what is queued and shut the socket down: its reader wakes up with EOF."""
        self.closed = True
        self._chunks.clear()
        self.pending = 0
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # the reader wakes up with EOF and ends the session

    def flush(self, timeout: float = 1.0) -> None:
        """Give queued bytes up to ``timeout`` seconds to leave (a farewell line)."""
        with gevent.Timeout(timeout, False):  # type: ignore[arg-type]  # types-gevent lacks False: end quietly
            while self._chunks and not self.closed:
                if self.send_queued():
                    gevent.sleep(0.01)

    def stop(self) -> None:
        self.closed = True
        self._chunks.clear()
        self.pending = 0
