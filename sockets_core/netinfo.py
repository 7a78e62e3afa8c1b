"""The machine's LAN addresses, for the banner and the dashboard's "how to connect" hints.

Standard library only: on Linux the IPv4 address of each interface comes from the
SIOCGIFADDR ioctl and IPv6 from /proc/net/if_inet6; elsewhere, from resolving the host
name. Nothing is sent on the network.

``local_addresses`` is the wider set the DNS-rebinding check accepts as Host: every address
of every interface (loopback, link-local and secondary ones included; the ioctl sees only an
interface's first IPv4 address, the kernel's local routing table sees them all).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct

SIOCGIFADDR = 0x8915


def _linux_ipv4() -> list[str]:
    import fcntl

    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(probe.fileno(), SIOCGIFADDR,
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            found.append(socket.inet_ntoa(packed[20:24]))
    return found


def _linux_ipv6(global_only: bool = True) -> list[str]:
    found = []
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 4 and (fields[3] == "00" or not global_only):  # 00: global scope
                    found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    except OSError:
        pass
    return found


def _linux_local_ipv4(fib_trie: str = "/proc/net/fib_trie") -> list[str]:
    """Every IPv4 address the kernel delivers locally: in fib_trie each is a "|-- ADDR" line
    followed by "/32 host LOCAL"."""
    found: list[str] = []
    try:
        with open(fib_trie) as f:
            previous = ""
            for line in f:
                text = line.strip()
                if text.startswith("/32 host LOCAL") and previous.startswith("|-- "):
                    address = previous[4:]
                    if address not in found:
                        found.append(address)
                previous = text
    except OSError:
        pass
    return found


def _by_hostname() -> list[str]:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None)
    except OSError:
        return []
    # an (int, bytes) address is IPv6 in a Python built without it: none to show
    return [info[4][0] for info in infos if isinstance(info[4][0], str)]


def lan_addresses(include_ipv6: bool = False) -> list[str]:
    """Non-loopback addresses of this machine, IPv4 first."""
    try:
        candidates = _linux_ipv4() + (_linux_ipv6() if include_ipv6 else [])
    except (ImportError, OSError, AttributeError):
        candidates = []
    if not candidates:
        candidates = _by_hostname()
    result: list[str] = []
    for addr in candidates:
        ip = ipaddress.ip_address(addr.split("%")[0])
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            continue
        if ip.version == 6 and not include_ipv6:
            continue
        if addr not in result:
            result.append(addr)
    return result


def local_addresses() -> set[str]:
    """Every address of this machine, in ipaddress's normal form, loopback always included."""
    candidates = ["127.0.0.1", "::1"]
    with contextlib.suppress(ImportError, OSError, AttributeError):
        candidates += _linux_local_ipv4() + _linux_ipv4() + _linux_ipv6(global_only=False)
    if len(candidates) == 2:  # not Linux: what the host name resolves to
        candidates += _by_hostname()
    found = set()
    for addr in candidates:
        try:
            found.add(str(ipaddress.ip_address(addr.split("%")[0])))
        except ValueError:
            continue
    return found


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
