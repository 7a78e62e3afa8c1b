"""Which addresses the pages tell people to connect to.

Only addresses the services are bound to. A service bound to one address (``--host
127.0.0.2``, ``--host 192.168.1.20``) answers on that address alone, so that is the only one
shown, whatever the browser used or the machine's LAN addresses are. A wildcard bind
(``0.0.0.0``, or ``::`` which serves IPv4 as well) answers on every address of the machine:
then every LAN address is shown (IPv6 ones only for ``::``), after the address or name the
browser used unless that is loopback (it evidently reaches us); loopback only when the
machine has no LAN address at all.
"""

from __future__ import annotations

import ipaddress

WILDCARD_BINDS = ("", "0.0.0.0", "::")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def advertised_hosts(bound: str, request_host: str, lan: list[str]) -> list[str]:
    """The addresses to show, the default one first. ``bound`` is the --host the services
    bind, ``request_host`` the host the browser used (no port, no brackets), ``lan`` the
    machine's LAN addresses."""
    if bound not in WILDCARD_BINDS:
        return [bound]
    reachable = [a for a in lan if bound == "::" or (ip := _ip(a)) is None or ip.version == 4]
    used = _ip(request_host)
    if used is None:  # a name: localhost is loopback, any other reached us (e.g. --allowed-host)
        first = [] if request_host in ("", "localhost") or request_host.endswith(".localhost") else [request_host]
    elif used.is_loopback or used.is_unspecified:
        first = []
    else:  # an address that reaches us: a LAN one, a secondary one, an --allowed-host NAT one
        first = [next((a for a in reachable if _ip(a) == used), request_host)]
    shown = first + [a for a in reachable if a not in first]
    if shown:
        return shown
    return ["::1" if bound == "::" and used is not None and used.version == 6 else "127.0.0.1"]
