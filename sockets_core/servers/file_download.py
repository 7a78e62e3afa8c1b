"""TCP file-download adapter (port 8080): the course's protocol.

The client connects and sends a file name (optional trailing \\r\\n, at most 1 KiB, usually
with no newline at all); the server streams the file and closes. The name's bytes are the
name on disk, whatever they are (a GBK name unzipped from Windows, Latin-1, invalid
UTF-8); a name in GBK for a file stored in UTF-8 is found too (FileStore.open_for_reading).
A missing or refused name closes the connection with no data, which those clients take
as failure, and the reason goes to the log. The file is streamed with os.sendfile, never read whole.
"""

from __future__ import annotations

import logging
import os
import socket

from gevent.socket import wait_write

from ..addresses import Address, format_address
from ..files import FileStore, UnsafePath
from ..names import display, from_bytes
from ..traffic import ServiceTap
from ..transfers import Transfer, TransferRegistry, refusal_reason
from .stream import TappedStreamServer

log = logging.getLogger(__name__)

MAX_REQUEST = 1024
FIRST_BYTE_TIMEOUT = 30.0
REQUEST_SETTLE = 0.2  # a name without newline is complete once the client pauses this long
SENDFILE_CHUNK = 1 << 20
STALL_TIMEOUT = 60.0  # a client that reads nothing for this long is dropped


class FileDownloadServer(TappedStreamServer):
    def __init__(self, listener: socket.socket, tap: ServiceTap, store: FileStore,
                 transfers: TransferRegistry) -> None:
        super().__init__(listener, tap)
        self.store = store
        self.transfers = transfers

    def serve_client(self, sock: socket.socket, peer: Address, local: Address) -> str:
        who = format_address(peer)
        request, peer_closed = self._read_request(sock, peer, local)
        if not request:
            log.info("file: %s sent no file name%s", who,
                     "" if peer_closed else f" within {FIRST_BYTE_TIMEOUT:.0f} s: dropped")
            return "peer" if peer_closed else "us"
        name = from_bytes(request.rstrip(b"\r\n"))
        try:
            path, size = self.store.open_for_reading(name)
            source = open(path, "rb")  # noqa: SIM115  # the `with source:` below closes it; a refusal opens none
        except (UnsafePath, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            log.info("file: %s asked for '%s': refused (%s)", who, display(name)[0], exc)
            self.transfers.refused("tcp", "download", who, name, refusal_reason(exc))
            return "us"
        transfer = self.transfers.begin("tcp", "download", who, self.store.relative(path), size)
        try:
            with source:
                self._stream(sock, peer, local, source.fileno(), size, transfer)
        except OSError as exc:
            transfer.finish(f"connection lost: {exc.strerror or exc}")
            raise
        transfer.finish(None if transfer.done_bytes == size else "file changed while sending")
        log.info("file: sent '%s' (%d bytes) to %s", display(name)[0], transfer.done_bytes, who)
        return "us"

    def _read_request(self, sock: socket.socket, peer: Address, local: Address) -> tuple[bytes, bool]:
        """Read the name: up to a newline, MAX_REQUEST bytes, EOF, or a pause after the first bytes."""
        request = b""
        sock.settimeout(FIRST_BYTE_TIMEOUT)
        while len(request) < MAX_REQUEST and b"\n" not in request:
            try:
                data = self.receive(sock, peer, local, MAX_REQUEST - len(request))
            except TimeoutError:
                return request, False
            if not data:
                return request, True
            request += data
            sock.settimeout(REQUEST_SETTLE)
        return request.split(b"\n", 1)[0], False

    def _stream(self, sock: socket.socket, peer: Address, local: Address, fd: int, size: int,
                transfer: Transfer) -> None:
        sock.settimeout(None)
        offset = 0
        while offset < size:
            try:
                sent = os.sendfile(sock.fileno(), fd, offset, min(SENDFILE_CHUNK, size - offset))
            except BlockingIOError:
                wait_write(sock.fileno(), timeout=STALL_TIMEOUT)
                continue
            if sent == 0:
                break  # the file shrank while we were sending it
            offset += sent
            transfer.advance(sent)
            self.tap.sent(local, peer, sent, f"file data {offset}/{size}")
