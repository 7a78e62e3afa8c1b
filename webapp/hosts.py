"""DNS rebinding: answer only requests addressed to this machine.

A page on evil.example whose DNS name is re-pointed at 127.0.0.1 or at our LAN address after
it has loaded is, for the browser, still evil.example: it may read our pages and open our
WebSockets, and the Origin check passes because Origin and Host agree. What gives it away is
the Host header, which names evil.example. So a request is answered only when its Host is
loopback (127.0.0.0/8, ::1, localhost and *.localhost, which browsers never look up), an
address of this machine, the bound --host, this machine's own name, or a name given with
--allowed-host ('*' turns the check off). A request without a Host header cannot come from
a browser (they always send one) and is answered.

Flask's TRUSTED_HOSTS would do the matching but not the machine's changing addresses, the
one-line reason naming the flag, nor the throttled log line; hence this module.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, request

from sockets_core.logthrottle import REFUSED_FROM, ThrottledWarning
from sockets_core.netinfo import local_addresses

log = logging.getLogger(__name__)

ANY = "*"
WILDCARD_BINDS = ("", "0.0.0.0", "::")
ADDRESS_REFRESH = 10.0  # seconds between re-reading the interfaces when an unknown address shows up


def host_name(header: str) -> str | None:
    """The name in a Host header, lower case, without port, brackets or trailing dot; None if
    the header is malformed."""
    if not header or any(c in header for c in "/@?# \t\\"):
        return None
    try:
        parts = urlsplit("//" + header)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    name = (parts.hostname or "").removesuffix(".")
    return name or None


def normal_address(name: str) -> str | None:
    """``name`` as ipaddress writes it (an IPv4-mapped IPv6 address as IPv4); None for a name."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


class HostGuard:
    """Decides whether a Host may be answered; the machine's addresses are re-read (at most
    every ADDRESS_REFRESH seconds) when an address not seen before is asked about, so a new
    DHCP lease or interface works without a restart."""

    def __init__(self, allowed: Iterable[str], bound_host: str = "", extra_addresses: Iterable[str] = (),
                 addresses: Callable[[], set[str]] = local_addresses,
                 clock: Callable[[], float] = time.monotonic) -> None:
        allowed = [name.lower() for name in allowed]
        self.allow_any = ANY in allowed
        self.names = {name for name in allowed if normal_address(name) is None}
        self.names.add("localhost")
        machine = socket.gethostname().lower()
        if machine:
            self.names.update({machine, machine + ".local"})
        self.fixed = {a for a in map(normal_address, [*allowed, *extra_addresses]) if a}
        if bound_host not in WILDCARD_BINDS:
            address = normal_address(bound_host)
            if address:
                self.fixed.add(address)
            else:
                self.names.add(bound_host.lower())
        self._read_addresses = addresses
        self._clock = clock
        self._machine = addresses()
        self._read_at = clock()

    def allows(self, name: str) -> bool:
        if self.allow_any or name in self.names or name.endswith(".localhost"):
            return True
        address = normal_address(name)
        if address is None:
            return False
        if ipaddress.ip_address(address).is_loopback or address in self.fixed or address in self._machine:
            return True
        now = self._clock()
        if now - self._read_at >= ADDRESS_REFRESH:
            self._machine, self._read_at = self._read_addresses(), now
            return address in self._machine
        return False


def refusal(host: str) -> str:
    return (f"sockdash refused this request: Host {host!r} is not an address or name of this machine "
            f"(DNS rebinding protection); to use this name, start sockdash with --allowed-host {host}\n")


def install(app: Flask, guard: HostGuard) -> None:
    """Check every request's Host before anything else (the Origin check, the token) runs."""
    warnings = ThrottledWarning(log, suffix=REFUSED_FROM)

    def check_host() -> Response | None:
        header = request.headers.get("Host")
        if header is None:
            return None
        name = host_name(header)
        if name is not None and guard.allows(name):
            return None
        peer = request.remote_addr or "?"
        if name is None:
            warnings.warn("refused a request with a malformed Host header %r", header[:100], key=peer)
            return Response("sockdash refused this request: malformed Host header\n", 400, mimetype="text/plain")
        warnings.warn("refused Host %r, not an address or name of this machine (DNS rebinding); "
                      "--allowed-host %s allows it", name[:100], name[:100], key=peer)
        return Response(refusal(name), 403, mimetype="text/plain")

    app.before_request_funcs.setdefault(None, []).insert(0, check_host)
