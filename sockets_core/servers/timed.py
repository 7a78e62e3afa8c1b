"""Waiting on a socket until a sans-I/O machine's timer: the TFTP server and client (datagrams)
and the TCP chat (the line framer's pause) share it."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

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


class DatagramReceiver:
    """``receive_until`` for one socket that is read again and again (a TFTP transfer: one
    wait a block), at a fraction of its cost on a gevent socket.

    Why: ``receive_until`` sets the socket's timeout, and gevent then makes a Timeout (an
    exception object and a libev timer, started and closed) for every wait, and raises and
    catches BlockingIOError first: ~14 % of a lock-step transfer's Python time. Here:

    - a datagram that is already there is read straight from the real (non-blocking)
      socket, with no wait at all (the usual case under load);
    - otherwise the greenlet waits on the socket's own read watcher (so a close from
      another greenlet still wakes it, as gevent's own wait does) and on one timer that is
      kept between waits: the deadline usually moves a little later at every block, and the
      timer, when it fires early, only sets itself again for what is left. One timer start
      per resend timeout, not one per block.

    Not a gevent socket (a plain blocking one in a test, or gevent's internals changed):
    ``receive_until`` as before.
    """

    def __init__(self, sock: socket.socket, size: int = 65536) -> None:
        self.sock = sock
        self.size = size
        # gevent's own class only: a subclass may receive its own way
        self._raw: Any = getattr(sock, "_sock", None) if type(sock).__module__.startswith("gevent.") else None
        self._watcher: Any = getattr(sock, "_read_event", None)
        # a gevent socket means gevent is imported (the client command runs without it)
        self._hub_module: Any = sys.modules.get("gevent.hub")
        self._fast = self._raw is not None and self._watcher is not None and self._hub_module is not None
        self._timer: Any = None
        self._timer_at: float | None = None  # when the running timer fires (monotonic)
        self._waiter: Any = None  # the Waiter of the wait in progress
        self._deadline: float | None = None

    def receive(self, deadline: float | None) -> tuple[bytes, tuple] | None:  # type: ignore[type-arg]
        """A datagram and its source, or None once ``deadline`` (time.monotonic) has passed."""
        if not self._fast:
            return receive_until(self.sock, deadline, self.size)
        raw = self._raw
        while True:
            try:
                return raw.recvfrom(self.size)  # type: ignore[no-any-return]
            except BlockingIOError:
                pass
            if deadline is not None and deadline <= time.monotonic():
                return None
            if not self._wait(deadline):
                return None

    def _wait(self, deadline: float | None) -> bool:
        """Wait until the socket is readable (True) or ``deadline`` (False)."""
        hub = self._hub_module.get_hub()
        waiter = self._hub_module.Waiter(hub)
        self._deadline = deadline
        self._waiter = waiter
        if deadline is not None and (self._timer_at is None or self._timer_at > deadline):
            self._set_timer(hub, deadline)
        watcher = self._watcher
        watcher.start(waiter.switch, True)
        try:
            return waiter.get()  # type: ignore[no-any-return]
        finally:
            watcher.stop()
            self._waiter = None

    def _set_timer(self, hub: Any, at: float) -> None:
        if self._timer is not None:
            self._timer.close()
        # ref=False: a timer left behind never keeps the hub's loop alive
        self._timer = hub.loop.timer(max(0.0, at - time.monotonic()), ref=False)
        self._timer_at = at
        self._timer.start(self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer_at = None
        waiter, deadline = self._waiter, self._deadline
        if waiter is None or deadline is None:
            return  # nobody waits on a deadline now: the next wait sets the timer again
        if deadline <= time.monotonic():
            waiter.switch(False)
        else:  # the deadline moved on since the timer was set
            self._set_timer(self._hub_module.get_hub(), deadline)

    def close(self) -> None:
        """Stop the timer (the socket is the caller's to close)."""
        if self._timer is not None:
            self._timer.close()
            self._timer = None
            self._timer_at = None
