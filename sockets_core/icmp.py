"""ICMP errors for an unconnected UDP socket, as Linux reports them (ip(7), IP_RECVERR).

A UDP socket that is not connected never hears that its datagram hit a closed port: the
kernel drops the ICMP "port unreachable". With IP_RECVERR (IPV6_RECVERR) set, the kernel
queues the error instead: the next recvfrom fails (ECONNREFUSED for a closed port) and
``recvmsg(..., MSG_ERRQUEUE)`` returns, per error, the destination of the datagram that
failed and a control message holding ``struct sock_extended_err`` followed by the address
of the host that sent the ICMP. This module parses those bytes (no socket), so it is
tested with made-up control messages; the UDP tool (tools/udp.py) and the TFTP client
(servers/tftp_client.py) turn the option on and read the queue.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from dataclasses import dataclass

# Linux's values (<linux/in.h>, <linux/in6.h>); Python's socket module does not name them.
IP_RECVERR = 11
IPV6_RECVERR = 25
RECVERR_OPTIONS = ((socket.IPPROTO_IP, IP_RECVERR), (socket.IPPROTO_IPV6, IPV6_RECVERR))
SUPPORTED = sys.platform.startswith("linux")

_EXTENDED_ERR = struct.Struct("=IBBBBII")  # ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data
ORIGIN_ICMP, ORIGIN_ICMP6 = 2, 3


@dataclass(frozen=True)
class IcmpError:
    errno: int
    origin: int
    type: int
    code: int
    offender: str | None  # who sent the ICMP: the target itself, or a router on the way

    def describe(self, destination: str) -> str:
        """One line for the session log, naming what could not be reached."""
        via = f" from {self.offender}" if self.offender else ""
        if self.errno == errno.ECONNREFUSED:
            return f"port unreachable (ICMP{via}): nothing listens on {destination}"
        kind = "ICMPv6" if self.origin == ORIGIN_ICMP6 else "ICMP"
        return f"{os.strerror(self.errno)} ({kind} type {self.type} code {self.code}{via}) sending to {destination}"


def enable_icmp_errors(sock: socket.socket) -> bool:
    """Ask the kernel to queue ICMP errors for this unconnected socket."""
    if not SUPPORTED:
        return False
    enabled = False
    for level, option in RECVERR_OPTIONS:  # an IPv6 socket takes both: IPv4-mapped peers
        try:
            sock.setsockopt(level, option, 1)
            enabled = True
        except OSError:
            pass
    return enabled


def _offender(data: bytes) -> str | None:
    """The sockaddr after sock_extended_err: AF_INET or AF_INET6, else nobody (a local error)."""
    if len(data) < 2:
        return None
    family = struct.unpack_from("=H", data)[0]
    if family == socket.AF_INET and len(data) >= 8:
        return socket.inet_ntop(socket.AF_INET, data[4:8])
    if family == socket.AF_INET6 and len(data) >= 24:
        return socket.inet_ntop(socket.AF_INET6, data[8:24])
    return None


def parse_extended_error(level: int, kind: int, data: bytes) -> IcmpError | None:
    """One control message from MSG_ERRQUEUE; None if it is not a sock_extended_err."""
    if (level, kind) not in RECVERR_OPTIONS or len(data) < _EXTENDED_ERR.size:
        return None
    code_errno, origin, icmp_type, icmp_code, _, _, _ = _EXTENDED_ERR.unpack_from(data)
    return IcmpError(code_errno, origin, icmp_type, icmp_code, _offender(data[_EXTENDED_ERR.size:]))
