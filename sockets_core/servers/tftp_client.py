"""Run a sans-I/O TftpClient over a UDP socket (blocking, or cooperative under gevent)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from ..tftp.client import TftpClient
from .timed import receive_until


def resolve(host: str, port: int) -> tuple[int, tuple]:  # type: ignore[type-arg]
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    return family, address


def run_client(client: TftpClient, host: str, port: int,
               on_progress: Callable[[TftpClient], None] | None = None) -> None:
    """Drive ``client`` to its end; afterwards ``client.error`` is None or the reason."""
    family, server = resolve(host, port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    peer = None  # the server's transfer ID: where its first answer came from
    try:
        for packet in client.start(time.monotonic()):
            sock.sendto(packet, server)
        while not client.done:
            received = receive_until(sock, client.get_timer())
            if received is None:
                replies = client.handle_timer(time.monotonic())
            else:
                data, source = received
                if peer is None and source[0] == server[0]:
                    peer = source
                elif source != peer:
                    sock.sendto(client.wrong_source_reply(), source)
                    continue
                replies = client.receive(data, time.monotonic())
            for packet in replies:
                sock.sendto(packet, peer or server)
            if on_progress is not None:
                on_progress(client)
    finally:
        sock.close()
