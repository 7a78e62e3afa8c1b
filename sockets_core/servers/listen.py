"""Socket creation for every service, kept apart from the servers (as in gevent's baseserver).

``--host ::`` must serve IPv6 and IPv4 at once, so an IPv6 wildcard socket turns
IPV6_V6ONLY off. TCP listeners set SO_REUSEADDR so a restart does not wait for TIME_WAIT;
UDP sockets do not, because on Linux it would let two processes share a UDP port and the
"port in use" check would never fire.
"""

from __future__ import annotations

import errno
import socket

from gevent import socket as gsocket


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


def tcp_listener(service: str, host: str, port: int, backlog: int = 1024) -> gsocket.socket:
    family = _family(host)
    sock = gsocket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _bind(sock, host, port, family)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise BindError(service, host, port, exc) from exc
    return sock


def udp_socket(service: str, host: str, port: int) -> gsocket.socket:
    family = _family(host)
    sock = gsocket.socket(family, socket.SOCK_DGRAM)
    try:
        _bind(sock, host, port, family)
    except OSError as exc:
        sock.close()
        raise BindError(service, host, port, exc) from exc
    return sock


def local_address(sock: gsocket.socket) -> tuple[str, int]:
    name = sock.getsockname()
    return name[0], name[1]


def plain_address(addr: tuple) -> tuple[str, int]:  # type: ignore[type-arg]
    """A peer address as (host, port): IPv4-mapped IPv6 (::ffff:1.2.3.4) shown as IPv4."""
    host = addr[0]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    return host, addr[1]
