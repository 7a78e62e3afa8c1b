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
from ..tftp import error_reply
from ..tftp.packets import (ERR_ACCESS, ERR_EXISTS, ERR_NOT_FOUND, ERR_UNDEFINED, RRQ, MalformedPacket,
                            Request, decode, encode_error, summarize)
from ..tftp.transfer import DEFAULT_RETRIES, ReadTransfer, WriteTransfer
from ..traffic import ServiceTap
from ..transfers import TransferRegistry
from .listen import local_address, plain_address
from .tftp_admission import TftpAdmission
from .timed import receive_until

log = logging.getLogger(__name__)
LAZY_SUMMARIES["tftp"] = summarize  # decoded for the log only when somebody looks

DEFAULT_MAX_UPLOAD = 1 << 30


class TftpServer(DatagramServer):
    def __init__(self, sock: socket.socket, tap: ServiceTap, store: FileStore, transfers: TransferRegistry,
                 allow_write: bool, max_upload: int = DEFAULT_MAX_UPLOAD, overwrite: bool = False,
                 retries: int = DEFAULT_RETRIES, **limits: int) -> None:
        """``limits``: the keyword arguments of TftpAdmission (max_transfers, max_per_peer, ...)."""
        # handle each datagram in the reading greenlet (no greenlet per datagram): under a
        # flood the kernel's socket buffer is the bounded queue and drops the excess, instead
        # of an unbounded backlog of greenlets (bench/packetlog.py measured it growing)
        super().__init__(sock, spawn=None)
        self.tap = tap
        self.store = store
        self.transfers = transfers
        self.allow_write = allow_write
        self.admission = TftpAdmission(**limits)
        self.max_upload = max_upload
        self.overwrite = overwrite
        self.retries = retries
        self.local = local_address(sock)
        self.active: dict[tuple, gevent.Greenlet] = {}  # type: ignore[type-arg]
        self.repeats: dict[tuple, Callable[[], None]] = {}  # type: ignore[type-arg]  # by client address
        self.lingering = 0  # finished uploads still listening for a repeated last DATA

    def handle(self, data: bytes, address: tuple) -> None:  # type: ignore[type-arg]
        peer = plain_address(address)
        self.tap.received(self.local, peer, data)
        # every datagram to the well-known port counts, repeats too: a repeated 14-byte RRQ
        # answered by a 516-byte DATA would otherwise be an unlimited amplifier for a spoofed source
        if not self.admission.allow_datagram(peer[0]):
            return
        if address in self.active:  # the client repeating its request: it missed our answer
            repeat = self.repeats.get(address)
            if repeat is not None and data[:2] in (b"\x00\x01", b"\x00\x02"):
                repeat()
            return
        try:
            request = decode(data)
        except MalformedPacket as exc:
            self._refuse(address, len(data), exc.code, str(exc))
            return
        if not isinstance(request, Request):
            return  # a stray packet
        refusal = self.admission.refusal(peer[0], format_address(peer), request)
        if refusal is not None:
            self._refuse(address, len(data), ERR_UNDEFINED, refusal)
            return
        self.active[address] = gevent.spawn(self._serve, request, address, len(data))
        self.admission.admit(peer[0])
        self.active[address].link(lambda greenlet: self._forget(address, greenlet))
        self.tap.counters.clients = len(self.active)

    def _refuse(self, address: tuple, request_size: int, code: int, message: str) -> None:  # type: ignore[type-arg]
        """ERROR from the well-known port, never larger than the request (no amplifier)."""
        packet = error_reply.within(code, message, request_size)
        if packet is not None:
            self._reply(self.socket, self.local, address, packet)

    def _forget(self, address: tuple, greenlet: gevent.Greenlet) -> None:  # type: ignore[type-arg]
        """The transfer of this greenlet no longer counts (once: an upload's is freed before it lingers)."""
        if self.active.get(address) is greenlet:
            del self.active[address]
            self.admission.release(plain_address(address)[0])
        self.tap.counters.clients = len(self.active)

    def _serve(self, request: Request, address: tuple, request_size: int) -> None:  # type: ignore[type-arg]
        sock = gsocket.socket(self.socket.family, socket.SOCK_DGRAM)
        held = 0  # window bytes this download holds
        try:
            sock.bind((self.local[0], 0))
            local = local_address(sock)
            budget = self.admission.window_budget()
            transfer, finish = self._open(request, sock, local, address, request_size, budget)
            if transfer is None:
                return
            if isinstance(transfer, ReadTransfer):
                held = self.admission.hold_window(request, budget, transfer.windowsize, transfer.blksize,
                                                  format_address(plain_address(address)))
            record = self.transfers.begin(
                "tftp", "download" if request.opcode == RRQ else "upload",
                format_address(plain_address(address)), request.filename, transfer.size,
                " ".join(f"{k}={v}" for k, v in transfer.options.items()) or request.mode)
            try:
                self._run(transfer, sock, local, address, record.advance, request_size)
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
                self._forget(address, gevent.getcurrent())  # done: the slot is free while it lingers
                self._dally(transfer, sock, local, address)
        finally:
            self.admission.release_window(held)
            sock.close()

    def _dally(self, transfer: WriteTransfer, sock: socket.socket, local: tuple[str, int],
               address: tuple) -> None:  # type: ignore[type-arg]
        """Stay a while after an upload: if our final ACK was lost the client repeats its last
        DATA, on its own timer (tftp-hpa: 5 s), so a second of lingering (tftpd-hpa's) is
        not enough: two of its resends fit in. At most as many uploads linger as transfers
        may run; the rest do not."""
        if self.lingering >= self.admission.max_transfers:
            return
        self.lingering += 1
        deadline = time.monotonic() + transfer.peer_timer + 1
        try:
            while (received := receive_until(sock, deadline)) is not None:
                if received[1] == address:
                    for packet in transfer.receive(received[0], time.monotonic()):
                        self._reply(sock, local, address, packet)
        finally:
            self.lingering -= 1

    def _open(self, request: Request, sock: socket.socket, local: tuple[str, int], address: tuple,  # type: ignore[no-untyped-def,type-arg]
              request_size: int, window_bytes: int):
        who = format_address(plain_address(address))
        try:
            if request.opcode == RRQ:
                path, size = self.store.open_for_reading(request.filename)
                source = open(path, "rb")
                return (ReadTransfer(request, source.read, size, self.retries, window_bytes),
                        lambda ok: source.close())
            if not self.allow_write:
                raise PermissionError("uploads are disabled (start sockdash with --tftp-write)")
            writer = self.store.writer(request.filename, overwrite=self.overwrite)
            room = min(self.max_upload, shutil.disk_usage(self.store.root).free)  # tsize over it: ERROR 3
            transfer = WriteTransfer(request, writer.write, room, self.retries, self.admission.window_bytes)
            return transfer, lambda ok: _commit_or_abort(writer, ok)
        except (UnsafePath, PermissionError, IsADirectoryError) as exc:
            code, reason = ERR_ACCESS, str(exc)
        except FileNotFoundError:
            code, reason = ERR_NOT_FOUND, "Not found"  # short: the reply may not outgrow the request
        except FileExistsError:
            code, reason = ERR_EXISTS, "File already exists"
        log.info("tftp: %s %r from %s refused: %s", "RRQ" if request.opcode == RRQ else "WRQ",
                 request.filename, who, reason)
        self.transfers.refused("tftp", "download" if request.opcode == RRQ else "upload", who, request.filename,
                               f"ERROR {code}: " + ("File not found" if code == ERR_NOT_FOUND else reason), request.mode)
        self._reply(sock, local, address, error_reply.fit(encode_error(code, reason), request_size))
        return None, None

    def _run(self, transfer: ReadTransfer | WriteTransfer, sock: socket.socket,
             local: tuple[str, int], address: tuple, progress: Callable[[int], None],  # type: ignore[type-arg]
             request_size: int) -> None:
        for packet in transfer.start(time.monotonic()):
            self._reply(sock, local, address, error_reply.fit(packet, request_size))
        self.repeats[address] = lambda: [self._reply(sock, local, address, packet)
                                         for packet in transfer.repeated_request(time.monotonic())]
        try:
            self._exchange(transfer, sock, local, address, progress)
        finally:
            self.repeats.pop(address, None)

    def _exchange(self, transfer: ReadTransfer | WriteTransfer, sock: socket.socket,
                  local: tuple[str, int], address: tuple, progress: Callable[[int], None]) -> None:  # type: ignore[type-arg]
        moved = 0
        while not transfer.done:
            received = receive_until(sock, transfer.get_timer())
            if received is None:
                replies = transfer.handle_timer(time.monotonic())
            else:
                data, source = received
                self.tap.received(local, plain_address(source), data)
                if source != address:
                    self._reply(sock, local, source, error_reply.fit(transfer.wrong_source_reply(), len(data)))
                    continue
                replies = [error_reply.fit(p, len(data)) for p in transfer.receive(data, time.monotonic())]
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
