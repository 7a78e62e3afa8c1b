"""Base for the TCP services: accept, tap the connection's life, classify how it ended."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from gevent.pool import Pool
from gevent.server import StreamServer

from ..traffic import ServiceTap
from .listen import local_address, plain_address

log = logging.getLogger(__name__)

DEFAULT_MAX_CLIENTS = 4096

Address = tuple[str, int]


class TappedStreamServer(StreamServer):
    """Subclasses implement ``serve_client``; it returns "peer" when the peer closed first."""

    def __init__(self, listener: socket.socket, tap: ServiceTap,
                 max_clients: int = DEFAULT_MAX_CLIENTS) -> None:
        # an unbounded Pool, so that stop() (from the dashboard too) ends the open
        # connections; the client limit is enforced in handle(), where it can be logged
        super().__init__(listener, spawn=Pool())
        self.tap = tap
        self.local = local_address(listener)
        self.max_clients = max_clients
        self._refused = 0

    def handle(self, sock: socket.socket, address: tuple) -> None:  # type: ignore[type-arg]
        peer = plain_address(address)
        if self.tap.counters.clients >= self.max_clients:
            self._refused += 1
            if self._refused == 1 or self._refused % 100 == 0:
                log.warning("%s: client limit %d reached, refused %s:%d (%d refused so far)",
                            self.tap.service, self.max_clients, peer[0], peer[1], self._refused)
            sock.close()
            return
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
