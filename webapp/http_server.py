"""The dashboard's HTTP server: gevent's pywsgi with admission, deadlines and a log without secrets.

What gevent's WSGIServer lacks, added here (issue #10):

- admission: connections per address and in all, and the descriptor reserve
  (sockets_core.servers.admission). A refused connection gets a 503 and is closed at once.
  Before refusing, a connection that is only *waiting* - it never finished its request
  head, or it is an idle keep-alive - is ended to make room, oldest first (from the same
  address when the per-address cap is what bit). Waiting connections cost a descriptor and
  promise nothing, so a thousand half-open requests cannot lock out a real one, and the
  dashboard still answers on the attacking address itself.
- a deadline for the request head (``head_timeout``, from accept or from the first byte of
  the next request on a keep-alive connection): then 408 and close.
- an idle keep-alive timeout (``idle_timeout``): the connection is closed silently.
- a write timeout (``write_timeout``): a response or request body that makes no progress for
  that long ends the connection. pywsgi sends in small chunks (sendall per chunk of the
  body), so a socket timeout is a no-progress timeout.
- WebSockets: after the upgrade handshake simple-websocket takes over a dup() of the socket,
  which inherits its timeout; its reader waits minutes between pings, so the socket of an
  upgraded request gets no timeout at all, and it is never "waiting" (so never evicted).
- an access/error log that never shows the admin token (``/?token=...`` in the request line).
"""

from __future__ import annotations

import functools
import logging
import re
import socket
from collections.abc import Callable
from email.message import Message
from types import TracebackType
from typing import Any

import gevent
from gevent.pool import Pool
from gevent.pywsgi import LoggingLogAdapter, WSGIHandler, WSGIServer

from sockets_core.logthrottle import SINCE_LAST_REPORT, ThrottledWarning
from sockets_core.servers.accept import AdmittingAccept
from sockets_core.servers.admission import Admission, Refusal, Ticket
from sockets_core.servers.listen import plain_address

log = logging.getLogger("sockdash.http")

TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"'#]*", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return TOKEN_IN_URL.sub(r"\1" + REDACTED, text)


def _plain_response(status: str, text: str, extra: str = "") -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n").encode() + body


_UNAVAILABLE = "503 Service Unavailable"
REFUSED_RESPONSES = {
    Refusal.PER_IP: _plain_response(_UNAVAILABLE, "too many connections from your address; try again later\n",
                                    "Retry-After: 5\r\n"),
    Refusal.TOTAL: _plain_response(_UNAVAILABLE, "the server is busy; try again later\n", "Retry-After: 5\r\n"),
    Refusal.FDS: _plain_response(_UNAVAILABLE, "the server is out of resources; try again later\n",
                                 "Retry-After: 5\r\n"),
}
HEAD_TIMEOUT_RESPONSE = _plain_response("408 Request Timeout", "the request head did not arrive in time\n")


class RedactingLogAdapter(LoggingLogAdapter):
    """pywsgi's access and error log through ``logging``, with ``token=`` values blanked."""

    __slots__ = ()

    def write(self, msg: str) -> None:
        if self._logger.isEnabledFor(self._level):  # the access log is DEBUG: usually off
            super().write(redact(msg))


class IdleConnections:
    """Connections waiting for a request head, oldest first, overall and per address."""

    def __init__(self) -> None:
        self._all: dict[DashboardHandler, str] = {}
        self._by_ip: dict[str, dict[DashboardHandler, None]] = {}

    def add(self, handler: DashboardHandler) -> None:
        self.discard(handler)  # re-added: now the newest
        self._all[handler] = handler.ip
        self._by_ip.setdefault(handler.ip, {})[handler] = None

    def discard(self, handler: DashboardHandler) -> None:
        ip = self._all.pop(handler, None)
        if ip is not None:
            same_ip = self._by_ip[ip]
            del same_ip[handler]
            if not same_ip:
                del self._by_ip[ip]

    def evict_oldest(self, ip: str | None = None) -> bool:
        """End the oldest waiting connection (of ``ip``, or of anyone); False if there is none."""
        candidates = self._all if ip is None else self._by_ip.get(ip, {})
        victim = next(iter(candidates), None)
        if victim is None:
            return False
        self.discard(victim)
        victim.evict()
        return True

    def __len__(self) -> int:
        return len(self._all)


class DashboardHandler(WSGIHandler):
    server: DashboardServer

    def __init__(self, sock: socket.socket, address: Any, server: DashboardServer, ticket: Ticket) -> None:
        super().__init__(sock, address, server)
        self.ip = plain_address(address)[0]
        self.ticket = ticket
        self.requests = 0
        self.running = False  # its greenlet has started
        self.evicted = False
        self._deadline: gevent.Timeout | None = None
        sock.settimeout(None)  # while waiting for a head the deadline below governs

    def evict(self) -> None:
        """Make room: the reader wakes up with EOF, handle() ends and closes the socket."""
        self.evicted = True
        self.ticket.release()
        try:
            if self.running:
                self.socket.shutdown(socket.SHUT_RDWR)
            else:  # no one reads it yet: free the descriptor now, not when the greenlet gets to run
                self.rfile.close()
                self.socket.close()
        except OSError:
            pass

    def handle(self) -> None:
        self.running = True
        super().handle()

    def handle_one_request(self) -> Any:
        if self.socket is None or self.rfile.closed or self.evicted:
            return None
        self.server.idle.add(self)
        try:
            if self.requests and not self._next_request_arrives():
                return None
            deadline = self._deadline = gevent.Timeout.start_new(self.server.head_timeout)
            try:
                result = super().handle_one_request()
            except gevent.Timeout as exc:
                if exc is not deadline:
                    raise
                self.server.head_timed_out(self.ip)
                self.close_connection = True
                return ("408", HEAD_TIMEOUT_RESPONSE)
            self.requests += 1
            return None if self.evicted else result
        finally:
            self._head_done()

    def _next_request_arrives(self) -> bool:
        """Wait, at most the idle timeout, for the first byte of the next request."""
        self.socket.settimeout(None)  # the idle timeout governs, not the write timeout
        try:
            # types-gevent allows no False, which gevent documents: end the block quietly
            with gevent.Timeout(self.server.idle_timeout, False):  # type: ignore[arg-type]  # types-gevent: no False
                return bool(self.rfile.peek(1))  # buffered bytes (a pipelined request) count
        except OSError:
            return False
        self.server.idle_timeouts += 1  # counted, not warned about: idle keep-alives end all the time
        return False  # close without a word, as HTTP servers do

    def _head_done(self) -> None:
        if self._deadline is not None:
            self._deadline.close()
            self._deadline = None
        self.server.idle.discard(self)
        if self.socket is not None:
            self.socket.settimeout(self.server.write_timeout)

    # types-gevent says it returns the headers; gevent returns True (its docstring: "a boolean")
    def read_request(self, raw_requestline: str) -> bool:  # type: ignore[override]  # types-gevent: True, not headers
        try:
            ok = super().read_request(raw_requestline)
        finally:
            self._head_done()
        if ok and _upgrade_requested(self.headers):
            self.socket.settimeout(None)  # see the module docstring: WebSockets
            self.close_connection = True  # nothing follows on this connection after the socket is handed over
        return bool(ok) and not self.evicted

    def handle_error(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        if t is not None and issubclass(t, TimeoutError):  # the write timeout: the peer stopped reading
            self.server.write_timed_out(self.ip, self.response_length)
            self.close_connection = True
            return
        super().handle_error(t, v, tb)


def _upgrade_requested(headers: Message) -> bool:
    """gevent's WSGIHandler._connection_upgrade_requested, which is private (and not in its types)."""
    return (headers.get("Connection", "").lower() == "upgrade"
            or headers.get("Upgrade", "").lower() == "websocket")


class DashboardServer(AdmittingAccept, WSGIServer):
    handler_class = DashboardHandler
    service_name = "http"

    def __init__(self, listener: socket.socket, application: Any, admission: Admission,
                 head_timeout: float, idle_timeout: float, write_timeout: float) -> None:
        logger = logging.getLogger("sockdash.http")
        # an unbounded Pool, so that stop() ends the open connections
        super().__init__(listener, application, spawn=Pool(), log=RedactingLogAdapter(logger, logging.DEBUG),
                         error_log=RedactingLogAdapter(logger, logging.ERROR))
        self.admission = admission
        self.head_timeout = head_timeout
        self.idle_timeout = idle_timeout
        self.write_timeout = write_timeout
        self.idle = IdleConnections()
        self.head_timeouts = 0
        self.idle_timeouts = 0
        self.write_timeouts = 0
        self._warn_head = ThrottledWarning(log, suffix=SINCE_LAST_REPORT)
        self._warn_write = ThrottledWarning(log, suffix=SINCE_LAST_REPORT)

    def admitted(self, sock: socket.socket, address: Any, ticket: Ticket) -> Callable[[], None]:
        handler = self.handler_class(sock, address, self, ticket)
        # waiting from now on, so evictable even before its greenlet first runs: in a burst
        # the slots are taken by connections whose greenlets have not started yet
        self.idle.add(handler)
        return functools.partial(self._run, handler)

    @staticmethod
    def _run(handler: DashboardHandler) -> None:
        try:
            handler.handle()
        except OSError as exc:  # a peer gone while a handler sent its final bytes
            log.debug("http: connection with %s failed: %s", handler.ip, exc)

    def refusal_reply(self, refusal: Refusal) -> bytes:
        return REFUSED_RESPONSES[refusal]

    def make_room(self, ip: str, refusal: Refusal) -> bool:
        return self.idle.evict_oldest(ip if refusal is Refusal.PER_IP else None)

    def head_timed_out(self, ip: str) -> None:
        self.head_timeouts += 1
        self._warn_head.warn("http: %s did not send a whole request head within %.1f s (--http-head-timeout): 408",
                             ip, self.head_timeout)

    def write_timed_out(self, ip: str, sent: int) -> None:
        self.write_timeouts += 1
        self._warn_write.warn("http: %s stopped reading for %.1f s after %d bytes (--http-write-timeout): "
                              "connection dropped", ip, self.write_timeout, sent)

    def status(self) -> dict[str, Any]:
        return {**self.admission.status(), "waiting": len(self.idle), "head_timeouts": self.head_timeouts,
                "idle_timeouts": self.idle_timeouts, "write_timeouts": self.write_timeouts}
