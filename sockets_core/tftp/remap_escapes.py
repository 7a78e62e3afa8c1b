"""The replacement side of a tftp-hpa map rule: escapes, and the client's address as tftpd writes it."""

from __future__ import annotations

import ipaddress
import re
import socket
from functools import lru_cache


@lru_cache(maxsize=1024)
def client_address(client_ip: str) -> tuple[int, str]:
    """(4 or 6, the text of the address as tftpd's inet_ntop writes it)."""
    try:
        address = ipaddress.ip_address(client_ip.split("%", 1)[0])
    except ValueError:
        return 4, client_ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.version == 6:
        return 6, socket.inet_ntop(socket.AF_INET6, address.packed)
    return 4, str(address)


def expand(replacement: bytes, match: re.Match[bytes] | None, subject: bytes, address: str) -> bytes:
    """tftp-hpa's genmatchstring for the matched part: escapes, \\U \\L \\E case changes."""
    out = bytearray()
    case = None  # None, "U" or "L": applied to everything written after it, as in tftpd
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        if c != 0x5C or i + 1 >= n:  # a literal byte (a final lone backslash is one too)
            piece = replacement[i:i + 1]
            i += 1
        else:
            e = replacement[i + 1]
            i += 2
            if 0x30 <= e <= 0x39:
                piece = b""
                if match is not None and match.start(e - 0x30) >= 0:
                    piece = subject[match.start(e - 0x30):match.end(e - 0x30)]
            elif e in b"ULE":
                case = None if e == 0x45 else chr(e)
                continue
            elif e == ord("i"):
                piece = address.encode("ascii", "replace")
            elif e == ord("x"):
                piece = hex_address(address)
            else:
                piece = bytes([e])
        out += piece.upper() if case == "U" else piece.lower() if case == "L" else piece
    return bytes(out)


@lru_cache(maxsize=1024)
def hex_address(address: str) -> bytes:
    try:
        return ipaddress.ip_address(address).packed.hex().upper().encode("ascii")
    except ValueError:
        return b""
