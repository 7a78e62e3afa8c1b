"""Who may start a TFTP transfer, and how much window memory a download gets.

One host must not lock the server nor eat its memory: new requests per second per IP
(--tftp-requests-per-peer), transfers at once per IP (--tftp-max-per-peer) and in all
(--tftp-max-transfers), bytes one window may hold (--tftp-window-bytes, lowered in the
OACK) and the windows of all downloads together (--tftp-window-bytes-total: a new
download gets what is left, one block at the least), and the ports transfers may use
(--tftp-port-range: a firewall opens just those). Every limit that bites logs a WARNING
with the peer and the count, rate-limited (logthrottle) so a flood cannot flood the log.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import time
from typing import TypedDict

import gevent

from ..logthrottle import ThrottledWarning
from ..ratelimit import PerSecondLimit
from ..tftp.options import DEFAULT_WINDOW_BYTES, MAX_WINDOWSIZE
from ..tftp.packets import Request

log = logging.getLogger("sockets_core.servers.tftp")

DEFAULT_MAX_TRANSFERS = 64
DEFAULT_REQUESTS_PER_PEER = 50  # a PXE lab boots many machines, each from its own IP
# A booting machine fetches one file at a time (two with a retry running out); 8 leaves room
# for a host behind NAT or a script, and one host can never take more than 1/8 of 64 slots.
DEFAULT_MAX_PER_PEER = 8
# Windows of all downloads together: 16 greedy 1 MiB windows; past it new windows shrink.
DEFAULT_WINDOW_BYTES_TOTAL = 16 << 20


class TftpLimits(TypedDict, total=False):
    """TftpAdmission's keyword arguments, as TftpServer takes them and passes them on."""

    max_transfers: int
    max_per_peer: int
    requests_per_peer: int
    window_bytes: int
    window_bytes_total: int
    port_range: tuple[int, int] | None


class TftpAdmission:
    def __init__(self, max_transfers: int = DEFAULT_MAX_TRANSFERS, max_per_peer: int = DEFAULT_MAX_PER_PEER,
                 requests_per_peer: int = DEFAULT_REQUESTS_PER_PEER, window_bytes: int = DEFAULT_WINDOW_BYTES,
                 window_bytes_total: int = DEFAULT_WINDOW_BYTES_TOTAL,
                 port_range: tuple[int, int] | None = None) -> None:
        self.max_transfers = max_transfers
        self.max_per_peer = max_per_peer
        self.request_limit = PerSecondLimit(requests_per_peer)
        self.window_bytes = window_bytes
        self.window_bytes_total = window_bytes_total
        self.window_bytes_used = 0  # held by the windows of running downloads
        self.running = 0
        self.per_peer: dict[str, int] = {}  # running transfers by IP
        self.port_range = port_range
        self.warnings = ThrottledWarning(log)

    def warn(self, key: str, message: str, *args: object) -> None:
        self.warnings.warn(message, *args, key=key)

    def allow_datagram(self, ip: str) -> bool:
        """New requests (and garbage) per second from one IP are limited; the rest are ignored:
        answering a flood would amplify it."""
        over = self.request_limit.check(ip, time.monotonic())
        if over == 1:
            self.warn("requests " + ip, "tftp: %s sent more than %d requests in a second (limit): ignoring the rest",
                      ip, self.request_limit.per_second)
        return over == 0

    def refusal(self, ip: str, peer: str, request: Request) -> str | None:
        """Why this request may not start a transfer now (the ERROR 0 text), or None."""
        if self.per_peer.get(ip, 0) >= self.max_per_peer:
            self.warn("per-peer " + ip, "tftp: %s has %d transfers running (limit --tftp-max-per-peer): refused %r",
                      ip, self.per_peer[ip], request.filename)
            return "too many transfers from your address"
        if self.running >= self.max_transfers:
            self.warn("*busy", "tftp: %d transfers running (limit --tftp-max-transfers): refused %r from %s",
                      self.max_transfers, request.filename, peer)
            return "Server busy, try again"
        return None

    def admit(self, ip: str) -> None:
        self.running += 1
        self.per_peer[ip] = self.per_peer.get(ip, 0) + 1

    def release(self, ip: str) -> None:
        self.running -= 1
        self.per_peer[ip] -= 1
        if not self.per_peer[ip]:
            del self.per_peer[ip]

    def window_budget(self) -> int:
        """Bytes the next download's window may hold: the per-window cap, less when the
        windows of all running downloads near their total (one block at the least)."""
        return max(0, min(self.window_bytes, self.window_bytes_total - self.window_bytes_used))

    def hold_window(self, request: Request, budget: int, windowsize: int, blksize: int, peer: str) -> int:
        """Count a download's window against the total; log when a cap lowered it. Returns
        the bytes held (give them back with ``release_window``)."""
        asked = request.options.get("windowsize", "")
        if asked.isdigit() and windowsize < min(int(asked), MAX_WINDOWSIZE):
            if budget < self.window_bytes:
                self.warn("*window", "tftp: windows of running downloads hold %d of %d bytes (limit "
                          "--tftp-window-bytes-total): windowsize for %s lowered from %s to %d",
                          self.window_bytes_used, self.window_bytes_total, peer, asked, windowsize)
            else:
                self.warn("window " + peer, "tftp: %s asked for windowsize %s of %d-byte blocks: lowered to %d "
                          "(limit --tftp-window-bytes %d)", peer, asked, blksize, windowsize, self.window_bytes)
        held = windowsize * blksize
        self.window_bytes_used += held
        return held

    def release_window(self, held: int) -> None:
        self.window_bytes_used -= held

    def bind_transfer_port(self, sock: socket.socket, host: str, peer: str, filename: str) -> bool:
        """Bind a transfer's socket: any free port, or one of --tftp-port-range, starting at a
        random one (the next transfer's port is not guessable) and trying each once. False
        (and a WARNING) when every port of the range is taken."""
        if self.port_range is None:
            sock.bind((host, 0))
            return True
        low, high = self.port_range
        count = high - low + 1
        first = random.randrange(count)
        for attempt in range(count):
            try:
                sock.bind((host, low + (first + attempt) % count))
                return True
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES):  # EACCES: below 1024, not root
                    raise
            if attempt % 1024 == 1023:
                gevent.sleep(0)  # a wide range all taken: let the other transfers run meanwhile
        self.warn("*ports", "tftp: all %d ports of --tftp-port-range %d:%d are taken: refused %r from %s",
                  count, low, high, filename, peer)
        return False
