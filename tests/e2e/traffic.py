"""Live traffic for the page tests: a TFTP download held in progress by a client that ACKs
slowly, chat clients that stay connected. Everything ends when its ``with`` block does."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from tests import harness

OPCODE_DATA, OPCODE_ACK, OPCODE_ERROR, OPCODE_OACK = 3, 4, 5, 6


@contextmanager
def slow_tftp_download(proc: harness.Sockdash, name: str, ack_every: float = 0.2) -> Iterator[threading.Event]:
    """RRQ ``name`` with tsize (so the size is known), then ACK one 512-byte block per
    ``ack_every`` seconds until the block ends; yields an event set once the first DATA came."""
    stop, first = threading.Event(), threading.Event()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(5)
    transfer_port: list[tuple[str, int]] = []

    def run() -> None:
        sock.sendto(b"\x00\x01" + name.encode() + b"\x00octet\x00tsize\x000\x00", (proc.host, proc.ports["tftp"]))
        while not stop.is_set():
            try:
                data, server = sock.recvfrom(65536)
            except OSError:
                return
            opcode = struct.unpack("!H", data[:2])[0]
            transfer_port[:] = [server]
            if opcode == OPCODE_OACK:
                sock.sendto(struct.pack("!HH", OPCODE_ACK, 0), server)
                continue
            if opcode != OPCODE_DATA:
                return
            first.set()
            if stop.wait(ack_every):
                return
            sock.sendto(struct.pack("!H", OPCODE_ACK) + data[2:4], server)
            if len(data) < 516:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield first
    finally:
        stop.set()
        thread.join(5)
        if transfer_port:
            # cancel as a real client does, so the next test does not see this transfer still
            # "running" while the server waits out its resend back-off
            sock.sendto(struct.pack("!HH", OPCODE_ERROR, 0) + b"cancelled\x00", transfer_port[0])
            proc.wait_for(lambda: not any(t.get("status") == "running" and t.get("file", "").endswith(name)
                                          for t in proc.get_json("/api/transfers")["transfers"]))
        sock.close()


@contextmanager
def chat_clients(proc: harness.Sockdash, *nicks: str) -> Iterator[list[socket.socket]]:
    """TCP chat clients (as ``nc``), each with its nick and one line said."""
    with ExitStack() as stack:
        clients = []
        for nick in nicks:
            client = stack.enter_context(socket.create_connection((proc.host, proc.ports["tcp_chat"]), timeout=5))
            client.recv(1024)
            client.sendall(f"/nick {nick}\nhello from {nick}\n".encode())
            clients.append(client)
        yield clients
