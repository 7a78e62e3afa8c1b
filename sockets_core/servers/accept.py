"""Accepting TCP connections under admission: the part shared by the TCP services and HTTP.

gevent's StreamServer accepts up to ``max_accept`` sockets per wake-up and spawns a greenlet
for each; only then would a ``handle`` see them. Under a flood that means hundreds of
accepted descriptors waiting for their greenlet, enough to reach EMFILE although every one
of them would be refused. So admission happens here, in ``do_handle``, in the accept loop
itself: a refused socket gets its one-line reply (non-blocking) and is closed before the
next accept, and only admitted ones get a greenlet, with their Ticket.

When accept() itself fails for want of descriptors or memory, gevent would report it
through the hub (a traceback on stderr each time) and back off; here the listener pauses
ACCEPT_PAUSE seconds and accepts again, with one WARNING line per ACCEPT_LOG_EVERY s at
most. The admission limits keep descriptors free, so that is the last line of defence.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

import gevent
from gevent.pool import Pool
from gevent.server import StreamServer

from ..logthrottle import SINCE_LAST_REPORT, ThrottledWarning
from .admission import Admission, Refusal, Ticket
from .listen import plain_address

log = logging.getLogger(__name__)

OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
ACCEPT_PAUSE = 0.1
ACCEPT_LOG_EVERY = 10.0


class AdmittingAccept(StreamServer):
    """Mixin for a gevent StreamServer with a Pool (a StreamServer itself, so that its methods
    are typed; it comes first in the bases: class X(AdmittingAccept, WSGIServer)).

    The server provides ``admission``, ``service_name`` and ``admitted(sock, address,
    ticket)``, which returns what the connection's greenlet runs; it may override
    ``refusal_reply`` and ``make_room``.
    """

    admission: Admission
    service_name: str
    pool: Pool  # not None: the servers using this mixin are made with spawn=Pool()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accept_failures = 0
        self._accept_warning = ThrottledWarning(log, ACCEPT_LOG_EVERY, suffix=SINCE_LAST_REPORT)

    # -- accept ---------------------------------------------------------------------------
    def do_read(self) -> Any:
        try:
            return super().do_read()
        except OSError as exc:
            if exc.errno not in OUT_OF_RESOURCES:
                raise
            self._pause_accepting(exc)
            return None

    def _pause_accepting(self, exc: OSError) -> None:
        self.accept_failures += 1
        self._accept_warning.warn("%s: accept failed (%s): pausing new connections for %.1f s",
                                  self.service_name, exc.strerror or exc, ACCEPT_PAUSE)
        self.stop_accepting()
        gevent.spawn_later(ACCEPT_PAUSE, self._resume_accepting)

    def _resume_accepting(self) -> None:
        if self.started:  # not stopped meanwhile
            self.start_accepting()

    # -- admit ----------------------------------------------------------------------------
    def do_handle(self, sock: socket.socket, address: Any) -> None:
        ticket = self.admission.admit(plain_address(address)[0], self.make_room)
        if isinstance(ticket, Refusal):
            self._refuse(sock, ticket)
            return
        try:
            greenlet = self.pool.spawn(self.admitted(sock, address, ticket))
        except BaseException:
            ticket.release()
            sock.close()
            raise
        # also when the greenlet is killed before it ran (stop()): the slot and the socket go
        greenlet.link(lambda _: self._done(sock, ticket))

    @staticmethod
    def _done(sock: socket.socket, ticket: Ticket) -> None:
        ticket.release()
        sock.close()

    def _refuse(self, sock: socket.socket, refusal: Refusal) -> None:
        reply = self.refusal_reply(refusal)
        try:
            if reply:
                sock.setblocking(False)  # a fresh socket's buffer takes one reply; never wait for it
                sock.send(reply)
        except OSError:
            pass
        finally:
            sock.close()

    def refusal_reply(self, refusal: Refusal) -> bytes | None:
        return self.admission.reply_for(refusal)

    def make_room(self, ip: str, refusal: Refusal) -> bool:
        """End an idle connection to admit a new one; False: none to end (the default)."""
        return False

    def admitted(self, sock: socket.socket, address: Any, ticket: Ticket) -> Callable[[], None]:
        """Called in the accept loop for an admitted connection: what its greenlet is to run."""
        raise TypeError(f"{type(self).__name__} must implement admitted")

    def handle(self, sock: socket.socket, address: Any) -> None:
        """gevent's per-connection entry point, bypassed: do_handle admits, then spawns admitted()."""
        raise TypeError("connections go through do_handle")
