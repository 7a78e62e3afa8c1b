"""Run a sans-I/O TftpClient over a UDP socket (blocking, or cooperative under gevent)."""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable

from ..icmp import enable_icmp_errors
from ..tftp.client import TftpClient
from ..tftp.packets import RRQ
from ..traffic import ServiceTap
from .listen import plain_address
from .timed import receive_until


def resolve(host: str, port: int) -> tuple[int, tuple]:  # type: ignore[type-arg]
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    return family, address


def _bind_toward(sock: socket.socket, server: tuple) -> None:  # type: ignore[type-arg]
    """Bind to the address the route to ``server`` leaves from, so the packet log shows
    a real local address, not the wildcard."""
    with socket.socket(sock.family, socket.SOCK_DGRAM) as probe:
        probe.connect(server)  # a UDP connect sends nothing: it only picks the route
        source = probe.getsockname()
    sock.bind((source[0], 0, *source[2:]))


def run_client(client: TftpClient, host: str, port: int,
               on_progress: Callable[[TftpClient], None] | None = None, tap: ServiceTap | None = None) -> None:
    """Drive ``client`` to its end; afterwards ``client.error`` is None or the reason.
    With ``tap``, every packet in and out is counted and put in the packet log."""
    family, server = resolve(host, port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    _bind_toward(sock, server)
    local = plain_address(sock.getsockname())

    def send(packet: bytes, to: tuple) -> None:  # type: ignore[type-arg]
        sock.sendto(packet, to)
        if tap is not None:
            tap.sent(local, plain_address(to), packet)
    # an ICMP "port unreachable" ends the transfer at once, instead of (retries + 1) timeouts
    # of "no answer" (the socket is not connected: the server answers from a new port)
    enable_icmp_errors(sock)
    peer = None  # the server's transfer ID: where its first answer came from
    try:
        for packet in client.start(time.monotonic()):
            send(packet, server)
        while not client.done:
            try:
                received = receive_until(sock, client.get_timer())
            except ConnectionRefusedError:
                client.abort(f"port unreachable (ICMP): nothing listens on {host} port {port}")
                break
            except OSError as exc:
                if exc.errno not in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
                    raise
                client.abort(f"{os.strerror(exc.errno)} (ICMP) sending to {host} port {port}")
                break
            if received is None:
                replies = client.handle_timer(time.monotonic())
            else:
                data, source = received
                if tap is not None:
                    tap.received(local, plain_address(source), data)
                if peer is None and source[0] == server[0]:
                    peer = source
                elif source != peer:
                    send(client.wrong_source_reply(), source)
                    continue
                replies = client.receive(data, time.monotonic())
            for packet in replies:
                send(packet, peer or server)
            if on_progress is not None:
                on_progress(client)
        if client.error is None and client.opcode == RRQ and peer is not None:
            _linger(sock, client, peer, send, tap, local)
    finally:
        sock.close()


def _linger(sock: socket.socket, client: TftpClient, peer: tuple,  # type: ignore[type-arg]
            send: Callable[[bytes, tuple], None], tap: ServiceTap | None,  # type: ignore[type-arg]
            local: tuple[str, int]) -> None:
    """After a get, stay one timeout: if our last ACK was lost, the server sends its last
    window again, and must hear the ACK, or it records the download as failed."""
    deadline = time.monotonic() + client.timeout
    while (received := receive_until(sock, deadline)) is not None:
        data, source = received
        if source == peer:
            if tap is not None:
                tap.received(local, plain_address(source), data)
            for packet in client.receive(data, time.monotonic()):
                send(packet, peer)
