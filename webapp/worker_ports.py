"""The ports of ``--workers N``, decided once by the supervisor; each worker binds them itself.

The decision is a plain bind (no SO_REUSEPORT): it fails when anything holds the port, even a
sockdash whose workers share it (a bind with SO_REUSEPORT would join that group silently). The
probe is closed before the workers bind: a socket left bound in the group would take a share of
the connections and datagrams that nobody reads. (Between the probe and the first worker's bind
another program could take a port that was free: that worker then stops with the port-in-use
line, as sockdash without workers does.)
"""

from __future__ import annotations

import errno
import socket

from sockets_core.servers.listen import BindError, bind_socket
from sockets_core.settings import SERVICES, Settings

KINDS = {"http": socket.SOCK_STREAM, "tcp_chat": socket.SOCK_STREAM, "udp_chat": socket.SOCK_DGRAM,
         "file": socket.SOCK_STREAM, "tftp": socket.SOCK_DGRAM, "syslog": socket.SOCK_DGRAM}


def decide_ports(settings: Settings) -> tuple[dict[str, int], dict[str, str]]:
    """Each enabled service's port (port 0 made real), decided once for every worker, and the
    notes of those that took their fallback port (69 -> 6969, 514 -> 5514)."""
    from sockets_core.services import fallback_port

    ports: dict[str, int] = {}
    notes: dict[str, str] = {}
    for name in ("http", *(s for s in SERVICES if s not in settings.disabled)):
        port = settings.port_of(name)
        try:
            probe = bind_socket(name, settings.host, port, KINDS[name])
        except BindError as exc:
            fallback = fallback_port(name, port, exc)
            if fallback is None:
                raise
            probe = bind_socket(name, settings.host, fallback, KINDS[name])
            reason = "is in use" if exc.cause.errno == errno.EADDRINUSE else "needs root"
            notes[name] = f"port {port} {reason}; using {fallback} instead"
        ports[name] = probe.getsockname()[1]
        probe.close()
    return ports, notes

