"""A bounded send queue per TCP client, drained by its own greenlet.

Whoever delivers to a client only appends here, so a slow reader never slows the
sender or anyone else. When a client's unsent bytes would pass ``limit`` the client is
cut off (its socket shut down, which ends its reader) and the reason is logged.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Callable

import gevent
from gevent.event import Event

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 256 * 1024


class OutboundQueue:
    def __init__(self, sock: socket.socket, describe: str, on_sent: Callable[[bytes], None],
                 limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self.pending = 0
        self.overflowed = False
        self._sock = sock
        self._describe = describe
        self._on_sent = on_sent
        self._chunks: deque[bytes] = deque()
        self._ready = Event()
        self._greenlet = gevent.spawn(self._drain)

    def put(self, data: bytes) -> None:
        if self.overflowed or not data:
            return
        if self.pending + len(data) > self.limit:
            self.overflowed = True
            log.warning("%s: more than %d bytes unsent (slow reader): disconnecting",
                        self._describe, self.limit)
            self._shutdown()
            return
        self._chunks.append(data)
        self.pending += len(data)
        self._ready.set()

    def _drain(self) -> None:
        try:
            while True:
                self._ready.wait()
                self._ready.clear()
                while self._chunks:
                    data = self._chunks.popleft()
                    self._sock.sendall(data)
                    self.pending -= len(data)
                    self._on_sent(data)
        except OSError:
            self._shutdown()

    def _shutdown(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def flush(self, timeout: float = 1.0) -> None:
        """Give queued bytes up to ``timeout`` seconds to leave (a farewell line)."""
        with gevent.Timeout(timeout, False):
            while self.pending and not self._greenlet.dead:
                gevent.sleep(0.01)

    def stop(self) -> None:
        self._greenlet.kill(block=False)
