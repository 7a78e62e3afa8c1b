"""Socket creation for every service, kept apart from the servers (as in gevent's baseserver).

``--host ::`` must serve IPv6 and IPv4 at once, so an IPv6 wildcard socket turns
IPV6_V6ONLY off. TCP listeners set SO_REUSEADDR so a restart does not wait for TIME_WAIT;
UDP sockets do not, because on Linux it would let two processes share a UDP port and the
"port in use" check would never fire.

Workers (``--workers N``, webapp.workers): N processes serve the same ports with SO_REUSEPORT,
the kernel spreading connections and datagrams over them by a hash of the 4-tuple (so a TFTP
client's repeated request reaches the worker that has its transfer). The supervisor decides
each port once and tells the workers (``share_ports``); a worker adopts them here
(``adopt_shared_ports``), and its services then bind those ports with SO_REUSEPORT as they
start, so a socket joins the group only when its server is about to read it (a socket bound
while its worker still starts would hold back the connections and datagrams hashed to it). A
plain bind (no SO_REUSEPORT) stays the rule everywhere else: transfer ports and tool sockets
must never be shared.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Mapping

from gevent import socket as gsocket

from ..addresses import Address, SockAddress

WORKER_PORTS_ENV = "SOCKDASH_WORKER_PORTS"  # "http=8000,tftp=6969,...": the ports all workers share
_shared_ports: dict[str, int] = {}  # service -> port, in a worker


class BindError(OSError):
    """A service's socket could not be bound; the message names the service and port."""

    def __init__(self, service: str, host: str, port: int, cause: OSError) -> None:
        if cause.errno == errno.EADDRINUSE:
            reason = "is already in use"
        elif cause.errno == errno.EACCES:
            reason = "needs root (ports below 1024)"
        elif cause.errno == errno.EADDRNOTAVAIL:
            reason = f"cannot be bound: {host} is not an address of this machine"
        else:
            reason = f"cannot be bound: {cause.strerror or cause}"
        super().__init__(cause.errno, f"{service}: port {port} on {host} {reason}")
        self.message = f"{service}: port {port} on {host} {reason}"
        self.service = service
        self.port = port
        self.cause = cause

    def __str__(self) -> str:
        return self.message


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind(sock: gsocket.socket, host: str, port: int, family: int) -> None:
    if family == socket.AF_INET6:
        if host in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port, 0, 0))
    else:
        sock.bind((host, port))


def _port_for(service: str, port: int) -> tuple[int, bool]:
    """The port to bind and whether it is shared with the other workers (SO_REUSEPORT)."""
    shared = _shared_ports.get(service)
    return (port, False) if shared is None else (shared, True)


def tcp_listener(service: str, host: str, port: int, backlog: int = 1024) -> gsocket.socket:
    port, shared = _port_for(service, port)
    return bind_socket(service, host, port, socket.SOCK_STREAM, shared, gsocket.socket, backlog)


def udp_socket(service: str, host: str, port: int) -> gsocket.socket:
    port, shared = _port_for(service, port)
    return bind_socket(service, host, port, socket.SOCK_DGRAM, shared, gsocket.socket)


def bind_socket(service: str, host: str, port: int, kind: int, reuse_port: bool = False,
                make: type[socket.socket] = socket.socket, backlog: int = 1024) -> socket.socket:
    """A bound (and for TCP listening) socket; ``make`` is gevent's socket class in a server and
    the standard one in the supervisor, which runs no event loop."""
    family = _family(host)
    sock = make(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        _bind(sock, host, port, family)
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(service, host, port, exc) from exc
    return sock


def share_ports(ports: Mapping[str, int]) -> str:
    """The environment value that tells a worker the port of each service."""
    return ",".join(f"{service}={port}" for service, port in ports.items())


def adopt_shared_ports(environ: Mapping[str, str] = os.environ) -> bool:
    """In a worker: bind the supervisor's ports from now on (False when this is no worker)."""
    spec = environ.get(WORKER_PORTS_ENV)
    if not spec:
        return False
    for entry in spec.split(","):
        service, _, port = entry.partition("=")
        _shared_ports[service] = int(port)
    return True


def local_address(sock: gsocket.socket) -> Address:
    name = sock.getsockname()
    return name[0], name[1]


def plain_address(addr: SockAddress) -> Address:
    """A peer address as (host, port): IPv4-mapped IPv6 (::ffff:1.2.3.4) shown as IPv4."""
    host = addr[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, addr[1]
