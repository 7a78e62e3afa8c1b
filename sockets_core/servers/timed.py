"""Waiting on a socket until a sans-I/O machine's timer: the TFTP server and client (datagrams)
and the TCP chat (the line framer's pause) share it."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_until(sock: socket.socket, deadline: float | None, receive: Callable[[], T]) -> T | None:
    """``receive()`` (a recv on ``sock``) with ``sock`` timing out at ``deadline``
    (time.monotonic; None: wait for ever); None once the deadline has passed.

    A deadline already behind us returns None without calling ``receive``: settimeout(0)
    would make the recv raise BlockingIOError, not TimeoutError.
    """
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        return None
    sock.settimeout(remaining)
    try:
        return receive()
    except TimeoutError:
        return None


def receive_until(sock: socket.socket, deadline: float | None, size: int = 65536) -> tuple[bytes, tuple] | None:  # type: ignore[type-arg]
    """A datagram and its source, or None once ``deadline`` (time.monotonic) has passed."""
    return call_until(sock, deadline, lambda: sock.recvfrom(size))
