"""Socket addresses as text: one type, one formatter, one HOST:PORT parser.

``format_address`` writes what every page, log line and export shows ("10.0.0.7:4000",
"[::1]:69"); ``parse_hostport`` reads what a user types for a target (the TFTP client,
the Tools page) and reads back whatever ``format_address`` wrote.
"""

from __future__ import annotations

Address = tuple[str, int]
# A peer as recvfrom/accept return it: (host, port) for IPv4, (host, port, flowinfo, scope_id)
# for IPv6. Keys of per-peer tables and what sendto is given back; plain_address (servers/listen.py)
# turns one into an Address for showing.
SockAddress = tuple[str, int] | tuple[str, int, int, int]


class AddressError(ValueError):
    """Text that is not HOST[:PORT]; the message says what is wrong with it."""


def format_address(addr: Address | SockAddress) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_hostport(text: str, default_port: int | None = None) -> Address:
    """HOST:PORT, [IPv6]:PORT, or, when ``default_port`` is given, HOST, [IPv6] or a bare
    IPv6 address (more than one colon: the colons are the address's, not a port's)."""
    text = text.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed:
            raise AddressError(f"{text!r}: an IPv6 address in [ ] needs its closing ]")
        if rest and not rest.startswith(":"):
            raise AddressError(f"{text!r}: after [{host}] comes :PORT or nothing")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    if not host:
        raise AddressError(f"{text!r}: no host (give HOST:PORT)" if text else "no address given (give HOST:PORT)")
    if port_text is None:
        if default_port is None:
            raise AddressError(f"{text!r}: no port (give HOST:PORT)")
        return host, default_port
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise AddressError(f"{text!r}: the port is a number 1-65535")
    return host, int(port_text)
