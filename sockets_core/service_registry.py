"""The socket services' servers: start, stop, where each listens, and why it moved.

The registry knows nothing of chat, files or TFTP: it is given a ``build(name, host,
port)`` that makes a server and a ``fallback(name, port, error)`` rule that names another
port when the configured one cannot be bound (Services holds both: what each service is
made of). What it keeps is the lifecycle: a service restarted from the dashboard keeps the
port it had (even if it was 0), a service's admission caps outlive its server, and a
failure to bind while starting them all stops those already started.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import gevent
from gevent.baseserver import BaseServer

from .servers.accept import AdmittingAccept
from .servers.admission import Admission
from .servers.listen import BindError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 1.5
TRANSPORTS = {"tcp_chat": "tcp", "udp_chat": "udp", "file": "tcp", "tftp": "udp", "syslog": "udp"}


@dataclass
class Endpoint:
    host: str
    port: int


class AdmissionLookup(Protocol):
    """A service's connection caps, if it has any (servers.admission.AdmissionControl)."""

    def get(self, service: str) -> Admission | None: ...


# a gevent server of either kind: (socket, address) for a stream, (data, address) for datagrams
AnyServer: TypeAlias = "BaseServer[Any, Any]"  # a string: gevent's class is not subscriptable
Build = Callable[[str, str, int], AnyServer]
Fallback = Callable[[str, int, BindError], "int | None"]


class ServiceRegistry:
    def __init__(self, names: Iterable[str], host: str, port_of: Callable[[str], int], build: Build,
                 fallback: Fallback, admission: AdmissionLookup | None = None) -> None:
        self.names = tuple(names)
        self.host = host
        self._port_of = port_of
        self._build = build
        self._fallback = fallback
        self._admission: AdmissionLookup = admission if admission is not None else {}
        self.endpoints: dict[str, Endpoint] = {}
        self.notes: dict[str, str] = {}  # service -> why it is not where it was asked to be
        self._servers: dict[str, AnyServer] = {}

    def start_all(self, skip: Iterable[str] = ()) -> None:
        """Start every service not in ``skip``; on a BindError stop those already started and re-raise."""
        skipped = set(skip)
        try:
            for name in self.names:
                if name not in skipped:
                    self.start(name)
        except BindError:
            self.stop_all()
            raise

    def start(self, name: str) -> Endpoint:
        if name in self._servers:
            return self.endpoints[name]
        port = self.endpoints[name].port if name in self.endpoints else self._port_of(name)
        try:
            server = self._build(name, self.host, port)
        except BindError as exc:
            fallback = self._fallback(name, port, exc)
            if fallback is None:
                raise
            server = self._build(name, self.host, fallback)
            reason = "is in use" if exc.cause.errno == errno.EADDRINUSE else "needs root"
            self.notes[name] = f"port {port} {reason}; using {fallback} instead"
        admission = self._admission.get(name)
        if admission is not None and isinstance(server, AdmittingAccept):  # the TCP services (and HTTP);
            server.admission = admission  # it outlives the server, as the tap does
        server.start()
        self._servers[name] = server
        self.endpoints[name] = Endpoint(self.host, server.socket.getsockname()[1])
        log.debug("%s listening on %s port %d", name, self.host, self.endpoints[name].port)
        return self.endpoints[name]

    def stop(self, name: str, timeout: float = STOP_TIMEOUT) -> None:
        server = self._servers.pop(name, None)
        if server is not None:
            server.stop(timeout=timeout)
            log.debug("%s stopped", name)

    def stop_all(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop them in parallel: each may wait up to ``timeout`` for its clients."""
        gevent.joinall([gevent.spawn(self.stop, name, timeout) for name in list(self._servers)],
                       timeout=timeout + 0.3)

    def running(self, name: str) -> bool:
        return name in self._servers

    def server(self, name: str) -> AnyServer | None:
        return self._servers.get(name)

    def ports(self) -> set[int]:
        return {e.port for e in self.endpoints.values()}

    def report(self, name: str, disabled: bool) -> dict[str, Any]:
        """Where a service is (or will be) and whether it runs; counters are the caller's."""
        endpoint = self.endpoints.get(name)
        entry: dict[str, Any] = {
            "running": name in self._servers,
            "transport": TRANSPORTS[name],
            "host": endpoint.host if endpoint else self.host,
            "port": endpoint.port if endpoint else self._port_of(name),
            "disabled": disabled,
        }
        if name in self.notes:
            entry["note"] = self.notes[name]
        if (admission := self._admission.get(name)) is not None:
            entry["limits"] = admission.status()
        return entry
