"""TFTP adapter: requests on the well-known port, each transfer on its own ephemeral port.

The protocol is in sockets_core.tftp; this module only moves datagrams, opens files
through the FileStore and taps every packet.
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Callable

import gevent
from gevent import socket as gsocket
from gevent.server import DatagramServer

from ..files import AtomicWriter, FileStore, UnsafePath
from ..packetlog import LAZY_SUMMARIES, format_address
from ..ratelimit import PerSecondLimit
from ..tftp.packets import (ERR_ACCESS, ERR_EXISTS, ERR_NOT_FOUND, ERR_UNDEFINED, RRQ, MalformedPacket,
                            Request, decode, encode_error, summarize)
from ..tftp.transfer import DEFAULT_RETRIES, ReadTransfer, WriteTransfer
from ..traffic import ServiceTap
from ..transfers import TransferRegistry
from .listen import local_address, plain_address
from .timed import receive_until

log = logging.getLogger(__name__)
LAZY_SUMMARIES["tftp"] = summarize  # decoded for the log only when somebody looks

DEFAULT_MAX_TRANSFERS = 64
DEFAULT_MAX_UPLOAD = 1 << 30
DEFAULT_REQUESTS_PER_PEER = 50  # a PXE lab boots many machines, each from its own IP


class TftpServer(DatagramServer):
    def __init__(self, sock: socket.socket, tap: ServiceTap, store: FileStore, transfers: TransferRegistry,
                 allow_write: bool, max_transfers: int = DEFAULT_MAX_TRANSFERS,
                 max_upload: int = DEFAULT_MAX_UPLOAD, overwrite: bool = False,
                 retries: int = DEFAULT_RETRIES, requests_per_peer: int = DEFAULT_REQUESTS_PER_PEER) -> None:
        # handle each datagram in the reading greenlet (no greenlet per datagram): under a
        # flood the kernel's socket buffer is the bounded queue and drops the excess, instead
        # of an unbounded backlog of greenlets (bench/packetlog.py measured it growing)
        super().__init__(sock, spawn=None)
        self.tap = tap
        self.store = store
        self.transfers = transfers
        self.allow_write = allow_write
        self.max_transfers = max_transfers
        self.max_upload = max_upload
        self.request_limit = PerSecondLimit(requests_per_peer)
        self.overwrite = overwrite
        self.retries = retries
        self.local = local_address(sock)
        self.active: dict[tuple, gevent.Greenlet] = {}  # type: ignore[type-arg]

    def handle(self, data: bytes, address: tuple) -> None:  # type: ignore[type-arg]
        peer = plain_address(address)
        self.tap.received(self.local, peer, data)
        try:
            request = decode(data)
        except MalformedPacket as exc:
            self._reply(self.socket, self.local, address, encode_error(exc.code, str(exc)))
            return
        if not isinstance(request, Request) or address in self.active:
            return  # stray packet, or the client retransmitting a request already being served
        if not self._allow(peer[0]):
            return
        if len(self.active) >= self.max_transfers:
            log.warning("tftp: %d transfers running (limit): refused %s from %s",
                        self.max_transfers, request.filename, format_address(peer))
            self._reply(self.socket, self.local, address, encode_error(ERR_UNDEFINED, "Server busy, try again"))
            return
        self.active[address] = gevent.spawn(self._serve, request, address)
        self.active[address].link(lambda _: self._forget(address))
        self.tap.counters.clients = len(self.active)

    def _allow(self, ip: str) -> bool:
        """New requests per second from one IP are limited; the rest are ignored (answering a
        flood would amplify it) and logged once a second."""
        over = self.request_limit.check(ip, time.monotonic())
        if over == 1:
            log.warning("tftp: %s sent more than %d requests in a second (limit): ignoring the rest",
                        ip, self.request_limit.per_second)
        return over == 0

    def _forget(self, address: tuple) -> None:  # type: ignore[type-arg]
        self.active.pop(address, None)
        self.tap.counters.clients = len(self.active)

    def _serve(self, request: Request, address: tuple) -> None:  # type: ignore[type-arg]
        sock = gsocket.socket(self.socket.family, socket.SOCK_DGRAM)
        try:
            sock.bind((self.local[0], 0))
            local = local_address(sock)
            transfer, finish = self._open(request, sock, local, address)
            if transfer is None:
                return
            record = self.transfers.begin(
                "tftp", "download" if request.opcode == RRQ else "upload",
                format_address(plain_address(address)), request.filename, transfer.size,
                " ".join(f"{k}={v}" for k, v in transfer.options.items()) or request.mode)
            try:
                self._run(transfer, sock, local, address, record.advance)
            except Exception as exc:  # a full disk, an I/O error: tell the client, keep nothing
                log.exception("tftp: transfer of %r failed", request.filename)
                transfer.done, transfer.error = True, f"server error: {exc}"
                self._reply(sock, local, address, encode_error(ERR_UNDEFINED, "Server error, transfer abandoned"))
            ok = transfer.done and transfer.error is None
            try:
                finish(ok)  # commits an upload only when it is complete
            except OSError as exc:
                transfer.error = f"could not store the file: {exc}"
                log.warning("tftp: upload of %r could not be stored: %s", request.filename, exc)
                ok = False
            record.finish(transfer.error)
            self._log_result(request, address, transfer)
            if ok and isinstance(transfer, WriteTransfer):
                self._dally(transfer, sock, local, address)
        finally:
            sock.close()

    def _dally(self, transfer: WriteTransfer, sock: socket.socket, local: tuple[str, int],
               address: tuple) -> None:  # type: ignore[type-arg]
        """Stay a while after an upload: if our final ACK was lost the client repeats its last DATA."""
        sock.settimeout(transfer.timeout)
        try:
            while True:
                data, source = sock.recvfrom(65536)
                if source == address:
                    for packet in transfer.receive(data, time.monotonic()):
                        self._reply(sock, local, address, packet)
        except TimeoutError:
            pass

    def _open(self, request: Request, sock: socket.socket, local: tuple[str, int], address: tuple):  # type: ignore[no-untyped-def,type-arg]
        who = format_address(plain_address(address))
        try:
            if request.opcode == RRQ:
                path, size = self.store.open_for_reading(request.filename)
                source = open(path, "rb")
                return ReadTransfer(request, source.read, size, self.retries), lambda ok: source.close()
            if not self.allow_write:
                raise PermissionError("uploads are disabled (start sockdash with --tftp-write)")
            writer = self.store.writer(request.filename, overwrite=self.overwrite)
            room = min(self.max_upload, shutil.disk_usage(self.store.root).free)  # tsize over it: ERROR 3
            transfer = WriteTransfer(request, writer.write, room, self.retries)
            return transfer, lambda ok: _commit_or_abort(writer, ok)
        except (UnsafePath, PermissionError, IsADirectoryError) as exc:
            code, reason = ERR_ACCESS, str(exc)
        except FileNotFoundError:
            code, reason = ERR_NOT_FOUND, "File not found"
        except FileExistsError:
            code, reason = ERR_EXISTS, "File already exists"
        log.info("tftp: %s %r from %s refused: %s", "RRQ" if request.opcode == RRQ else "WRQ",
                 request.filename, who, reason)
        self._reply(sock, local, address, encode_error(code, reason))
        return None, None

    def _run(self, transfer: ReadTransfer | WriteTransfer, sock: socket.socket,
             local: tuple[str, int], address: tuple, progress: Callable[[int], None]) -> None:  # type: ignore[type-arg]
        moved = 0
        for packet in transfer.start(time.monotonic()):
            self._reply(sock, local, address, packet)
        while not transfer.done:
            received = receive_until(sock, transfer.get_timer())
            if received is None:
                replies = transfer.handle_timer(time.monotonic())
            else:
                data, source = received
                self.tap.received(local, plain_address(source), data)
                if source != address:
                    self._reply(sock, local, source, transfer.wrong_source_reply())
                    continue
                replies = transfer.receive(data, time.monotonic())
            if transfer.bytes_moved != moved:
                progress(transfer.bytes_moved - moved)
                moved = transfer.bytes_moved
            for packet in replies:
                self._reply(sock, local, address, packet)

    def _reply(self, sock: socket.socket, local: tuple[str, int], address: tuple, packet: bytes) -> None:  # type: ignore[type-arg]
        try:
            sock.sendto(packet, address)
        except OSError as exc:
            log.debug("tftp: send to %s failed: %s", address, exc)
            return
        self.tap.sent(local, plain_address(address), packet)

    def _log_result(self, request: Request, address: tuple, transfer: ReadTransfer | WriteTransfer) -> None:  # type: ignore[type-arg]
        kind = "download" if request.opcode == RRQ else "upload"
        who = format_address(plain_address(address))
        if transfer.error is None:
            log.info("tftp: %s of %r by %s done, %d bytes", kind, request.filename, who, transfer.bytes_moved)
        else:
            log.warning("tftp: %s of %r by %s failed: %s", kind, request.filename, who, transfer.error)


def _commit_or_abort(writer: AtomicWriter, ok: bool) -> None:
    if not ok:
        writer.abort()
        return
    try:
        writer.commit()
    except OSError:
        writer.abort()
        raise
