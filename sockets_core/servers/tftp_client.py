"""Run a sans-I/O TftpClient over a UDP socket (blocking, or cooperative under gevent),
through the one TFTP drive loop (tftp_drive.py)."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable
from typing import cast

from ..addresses import SockAddress
from ..icmp import enable_icmp_errors
from ..tftp.client import TftpClient
from ..tftp.packets import RRQ
from .tftp_drive import Tap, TftpDrive

UNREACHABLE = (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN)


def resolve(host: str, port: int) -> tuple[int, SockAddress]:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    # an IP address: getaddrinfo's third kind, (int, bytes), is only for an IPv6 address in a
    # Python built without IPv6, where no UDP socket could reach it anyway
    return family, cast(SockAddress, address)


def _bind_toward(sock: socket.socket, server: SockAddress) -> None:
    """Bind to the address the route to ``server`` leaves from, so the packet log shows
    a real local address, not the wildcard."""
    with socket.socket(sock.family, socket.SOCK_DGRAM) as probe:
        probe.connect(server)  # a UDP connect sends nothing: it only picks the route
        source = probe.getsockname()
    sock.bind((source[0], 0, *source[2:]))


def run_client(client: TftpClient, host: str, port: int,
               on_progress: Callable[[TftpClient], None] | None = None, tap: Tap | None = None) -> None:
    """Drive ``client`` to its end; afterwards ``client.error`` is None or the reason.
    With ``tap``, every packet in and out is counted and put in the packet log."""
    family, server = resolve(host, port)

    def unreachable(exc: OSError) -> bool:
        if isinstance(exc, ConnectionRefusedError):
            client.abort(f"port unreachable (ICMP): nothing listens on {host} port {port}")
            return True
        if exc.errno in UNREACHABLE:
            client.abort(f"{os.strerror(exc.errno or 0)} (ICMP) sending to {host} port {port}")
            return True
        return False

    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        _bind_toward(sock, server)
        # an ICMP "port unreachable" ends the transfer at once, instead of (retries + 1) timeouts
        # of "no answer" (the socket is not connected: the server answers from a new port)
        enable_icmp_errors(sock)
        drive = TftpDrive(sock, tap, unreachable=unreachable)
        drive.run(client, client.start(time.monotonic()), server=server,
                  on_progress=None if on_progress is None else lambda moved: on_progress(client))
        if client.error is None and client.opcode == RRQ:
            drive.linger(client, client.timeout)  # our last ACK may be lost: hear the repeat
