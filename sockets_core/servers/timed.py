"""Waiting for a datagram until a sans-I/O machine's timer, shared by the TFTP server and client."""

from __future__ import annotations

import socket
import time


def receive_until(sock: socket.socket, deadline: float | None, size: int = 65536) -> tuple[bytes, tuple] | None:  # type: ignore[type-arg]
    """A datagram and its source, or None once ``deadline`` (time.monotonic) has passed.

    A deadline already behind us returns None without a recv: settimeout(0) would make
    recvfrom raise BlockingIOError, not TimeoutError.
    """
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        return None
    sock.settimeout(remaining)
    try:
        return sock.recvfrom(size)
    except TimeoutError:
        return None
