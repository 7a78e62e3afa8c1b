"""One-file octet TFTP requests from a plain socket, for tests and benchmarks that ask a server
(sockdash or tftpd-hpa) for one small file and look at what comes back."""

from __future__ import annotations

import socket
import struct

from sockets_core.names import to_bytes


def rrq(host: str, port: int, name: str, timeout: float = 3.0) -> tuple[str, bytes | int]:
    """("data", content) or ("error", TFTP error code), from a one-file octet RRQ."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(b"\x00\x01" + to_bytes(name) + b"\x00octet\x00", (host, port))
        content, expected = b"", 1
        for _ in range(100):  # a bound: the files asked for this way are a block or a few
            packet, peer = sock.recvfrom(1024)
            opcode, number = struct.unpack("!HH", packet[:4])
            if opcode == 5:
                return "error", number
            sock.sendto(struct.pack("!HH", 4, number), peer)
            if number == expected:
                content, expected = content + packet[4:], expected + 1
                if len(packet) - 4 < 512:
                    return "data", content
    raise AssertionError(f"no end of {name!r} from the server")


def wrq(host: str, port: int, name: str, content: bytes, timeout: float = 3.0) -> tuple[str, int]:
    """("ack", 1) once the server ACKed ``content`` (under 512 bytes: one block), or ("error", code)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(b"\x00\x02" + to_bytes(name) + b"\x00octet\x00", (host, port))
        packet, peer = sock.recvfrom(1024)
        if packet[:2] == b"\x00\x05":
            return "error", struct.unpack("!H", packet[2:4])[0]
        sock.sendto(struct.pack("!HH", 3, 1) + content, peer)
        packet, _ = sock.recvfrom(1024)
        return ("ack", 1) if packet[:4] == b"\x00\x04\x00\x01" else ("error", struct.unpack("!H", packet[2:4])[0])
