"""Base for the TCP services: admit, accept, tap the connection's life, classify how it ended."""

from __future__ import annotations

import fcntl
import functools
import logging
import socket
import struct
import termios
from collections.abc import Callable

from gevent.pool import Pool
from gevent.server import StreamServer

from ..addresses import Address, SockAddress
from ..traffic import ServiceTap
from .accept import AdmittingAccept
from .admission import Admission, FdBudget, Ticket
from .listen import local_address, plain_address

log = logging.getLogger(__name__)

DEFAULT_PER_IP = 64
DEFAULT_TOTAL = 1024


def bytes_waiting(sock: socket.socket) -> int:
    """Bytes the kernel holds for ``sock`` that no recv() has taken yet (FIONREAD)."""
    try:
        return int(struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0])
    except OSError:
        return 0


def default_admission(service: str) -> Admission:
    """For servers built without Services (tests, tools): the default caps, no descriptor floor."""
    return Admission(service, DEFAULT_PER_IP, DEFAULT_TOTAL, FdBudget(reserve=0, counter=lambda: None), 0)


class TappedStreamServer(AdmittingAccept, StreamServer):
    """Subclasses implement ``serve_client``; it returns "peer" when the peer closed first.

    Each connection is first admitted by ``self.admission`` (Services sets the service's own;
    see accept.py): a refused one gets the service's one-line reply, if it has one, and is
    closed at once.
    """

    def __init__(self, listener: socket.socket, tap: ServiceTap, admission: Admission | None = None) -> None:
        # an unbounded Pool, so that stop() (from the dashboard too) ends the open
        # connections; the limits are enforced by the admission, where they can be logged
        super().__init__(listener, spawn=Pool())
        self.tap = tap
        self.service_name = tap.service
        self.local = local_address(listener)
        self.admission = admission or default_admission(tap.service)

    def admitted(self, sock: socket.socket, address: SockAddress, ticket: Ticket) -> Callable[[], None]:
        return functools.partial(self._serve, sock, plain_address(address))

    def _serve(self, sock: socket.socket, peer: Address) -> None:
        """Serve one admitted connection (its ticket is released when this greenlet ends)."""
        try:
            local = plain_address(sock.getsockname())  # the listener may be 0.0.0.0
        except OSError:
            sock.close()
            return
        self.tap.opened(local, peer)
        ended_by = "us"
        try:
            ended_by = self.serve_client(sock, peer, local)
        except ConnectionResetError:
            ended_by = "reset"
        except (BrokenPipeError, TimeoutError, OSError) as exc:
            log.debug("%s: connection with %s:%d failed: %s", self.tap.service, peer[0], peer[1], exc)
            ended_by = "reset"
        finally:
            sock.close()
            self.tap.closed(local, peer, ended_by)

    def serve_client(self, sock: socket.socket, peer: Address, local: Address) -> str:
        raise TypeError(f"{type(self).__name__} must implement serve_client")

    def receive(self, sock: socket.socket, peer: Address, local: Address, size: int = 4096,
                private: Callable[[bytes], bool] | None = None) -> bytes:
        """``private`` says whether a chunk carries a direct message (the TCP chat's /msg)."""
        data = sock.recv(size)
        if data:
            self.tap.received(local, peer, data, private=private(data) if private is not None else False)
        return data
