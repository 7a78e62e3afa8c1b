"""Which client addresses may use the TFTP server (``--tftp-allow``): a list of networks.

An empty list allows everyone. A plain address is one host (/32, /128). An IPv4 client
seen on a dual-stack socket as ``::ffff:10.0.0.1`` is 10.0.0.1, and an IPv4-mapped network
in the list (``::ffff:10.0.0.0/104``) is the IPv4 network it maps.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class AccessList:
    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks: tuple[Network, ...] = tuple(networks)
        self._v4 = tuple(n for n in self.networks if n.version == 4)
        self._v6 = tuple(n for n in self.networks if n.version == 6)

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> AccessList:
        """Networks from text (``10.0.0.0/8``, ``192.0.2.7``, ``2001:db8::/32``); blank items are
        skipped. Raises ValueError naming the bad item."""
        return cls(_network(text.strip()) for text in cidrs if text.strip())

    def allows(self, ip: str) -> bool:
        if not self.networks:
            return True
        address = _address(ip)
        if address is None:
            return False
        return any(address in network for network in (self._v4 if address.version == 4 else self._v6))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __repr__(self) -> str:
        return f"AccessList({', '.join(str(n) for n in self.networks) or 'everyone'})"


def _network(text: str) -> Network:
    try:
        network = ipaddress.ip_network(text.split("%", 1)[0] if "/" not in text else text)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            loose = ipaddress.ip_network(text, strict=False)
            raise ValueError(f"{text!r} has host bits set: did you mean {loose}?") from None
        raise ValueError(f"{text!r} is not an IP address or network (like 10.0.0.0/8 or 2001:db8::/32)") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        prefix = max(network.prefixlen - 96, 0)
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, prefix))
    return network


@lru_cache(maxsize=4096)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
