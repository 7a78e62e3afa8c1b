"""Syslog receiver adapter (UDP 514, else 5514): each datagram into the packet log and the ring.

Like the UDP chat, each datagram is handled in the reading greenlet (no greenlet per
datagram), so under a flood the kernel's socket buffer is the bounded queue. The packet
log gets the bytes and no summary: LAZY_SUMMARIES parses the kept payload only when
somebody looks at the log.

Datagrams are read into one preallocated 64 KiB buffer so that a message longer than
MAX_MESSAGE is known to be cut (gevent's own read takes 8 KiB and drops the rest silently).
"""

from __future__ import annotations

import logging
import socket
from errno import EAGAIN, EWOULDBLOCK

from gevent.server import DatagramServer

from ..addresses import SockAddress
from ..packetlog import LAZY_SUMMARIES
from ..syslog.parse import parse
from ..syslog.store import SyslogStore
from ..traffic import ServiceTap
from .listen import local_address, plain_address

log = logging.getLogger(__name__)

READS_PER_WAKEUP = 16  # datagrams per readiness of the socket; then the rest of the process runs
RECEIVE_BUFFER = 4 << 20  # asked of the kernel (net.core.rmem_max caps it) to ride out bursts
MAX_DATAGRAM = 65_535


def summarize(payload: bytes, length: int) -> str:
    message = parse(payload, "")
    text = message.message if len(message.message) <= 80 else message.message[:79] + "…"
    return f"syslog {message.severity_name}" + (f" {message.app}" if message.app else "") + f": {text}"


LAZY_SUMMARIES["syslog"] = summarize


class SyslogServer(DatagramServer):
    max_accept = READS_PER_WAKEUP
    _socket: socket.socket  # gevent's init_socket sets it: the plain socket under self.socket (not in types-gevent)

    def __init__(self, sock: socket.socket, tap: ServiceTap, store: SyslogStore) -> None:
        super().__init__(sock, spawn=None)
        self.tap = tap
        self.store = store
        self.local = local_address(sock)
        self._buffer = bytearray(MAX_DATAGRAM)
        self._view = memoryview(self._buffer)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        except OSError as exc:  # a smaller buffer still works; bursts are dropped sooner
            log.debug("syslog: SO_RCVBUF not raised: %s", exc)

    # types-gevent: DatagramServer.do_read returns (socket, address); gevent's returns (data, address),
    # handed to handle(); this one (data, (address, size))
    def do_read(self) -> tuple[bytes, tuple[SockAddress, int]] | None:  # type: ignore[override]  # types-gevent
        try:
            size, address = self._socket.recvfrom_into(self._buffer)
        except OSError as exc:
            if exc.errno in (EAGAIN, EWOULDBLOCK):
                return None
            raise
        kept = min(size, self.store.max_message)
        # the packet log keeps its own first bytes; the store the first MAX_MESSAGE
        return bytes(self._view[:kept]), (address, size)

    # types-gevent types DatagramServer.handle as (socket, address); gevent gives it what do_read returns
    def handle(self, data: bytes, where: tuple[SockAddress, int]) -> None:  # type: ignore[override]  # types-gevent
        address, size = where
        peer = plain_address(address)
        self.tap.received(self.local, peer, data)
        self.store.add(data, peer[0], length=size)
