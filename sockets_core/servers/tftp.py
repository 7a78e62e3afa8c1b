"""TFTP adapter: requests on the well-known port, each transfer on its own ephemeral port.

The protocol is in sockets_core.tftp; this module only moves datagrams, opens files
through the FileStore and taps every packet. Who may ask for what, and which name is
served or stored, is tftp_policy's; the limits and the transfer ports, tftp_admission's.
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Unpack

import gevent
from gevent import socket as gsocket
from gevent.server import DatagramServer
from greenlet import greenlet

from ..addresses import Address, SockAddress, format_address
from ..files import FileStore, UnsafePath
from ..packetlog import LAZY_SUMMARIES
from ..tftp import error_reply
from ..tftp.packets import (
    ERR_ACCESS,
    ERR_EXISTS,
    ERR_NOT_FOUND,
    ERR_UNDEFINED,
    RRQ,
    MalformedPacket,
    Packet,
    Request,
    decode,
    encode_error,
    summarize,
)
from ..tftp.transfer import DEFAULT_RETRIES, ReadTransfer, WriteTransfer
from ..traffic import ServiceTap
from ..transfers import TransferRegistry
from .listen import local_address, plain_address
from .mmsg import detect as detect_batch_path
from .tftp_admission import TftpAdmission, TftpLimits
from .tftp_drive import TftpDrive
from .tftp_policy import TftpPolicy

log = logging.getLogger(__name__)
LAZY_SUMMARIES["tftp"] = summarize  # decoded for the log only when somebody looks

DEFAULT_MAX_UPLOAD = 1 << 30

# what _open gives back to end a transfer: closes the file read, or commits (ok) or throws away an
# upload; returns the path an upload is stored at
Finish = Callable[[bool], Path | None]


def _nothing_opened(ok: bool) -> None:
    """The Finish of a refused request: nothing was opened."""


class TftpServer(DatagramServer):
    def __init__(self, sock: socket.socket, tap: ServiceTap, store: FileStore, transfers: TransferRegistry,
                 allow_write: bool, max_upload: int = DEFAULT_MAX_UPLOAD, overwrite: bool = False,
                 retries: int = DEFAULT_RETRIES, policy: TftpPolicy | None = None,
                 **limits: Unpack[TftpLimits]) -> None:
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
        self.policy = policy or TftpPolicy(store)
        self.policy.warn = self.admission.warn  # one throttle for every TFTP warning
        self.max_upload = max_upload
        self.overwrite = overwrite
        self.retries = retries
        self.local = local_address(sock)
        self.active: dict[SockAddress, gevent.Greenlet[..., None]] = {}
        self.repeats: dict[SockAddress, Callable[[], None]] = {}  # by client address
        self.lingering = 0  # finished uploads still listening for a repeated last DATA
        detect_batch_path()  # once, at start (a window is one send: GSO, sendmmsg or sendto); logs which

    # types-gevent types DatagramServer.handle as (socket, address); gevent gives it (data, address)
    def handle(self, data: bytes, address: SockAddress) -> None:  # type: ignore[override]  # types-gevent: not (socket, addr)
        peer = plain_address(address)
        who = format_address(peer)
        # every datagram to the well-known port counts, repeats too: a repeated 14-byte RRQ
        # answered by a 516-byte DATA would otherwise be an unlimited amplifier for a spoofed source
        allowed = self.admission.allow_datagram(peer[0])
        fresh = allowed and address not in self.active
        packet: Packet | MalformedPacket | None = None
        if fresh:
            try:
                packet = decode(data)
            except MalformedPacket as exc:
                packet = exc
        # the request is ruled on before it is logged: its log line names the file served too
        ruling = self.policy.rule(packet, peer[0], who) if isinstance(packet, Request) else None
        self.tap.received(self.local, peer, data, ruling.summary(data) if ruling is not None else "")
        if not fresh:
            repeat = self.repeats.get(address)  # the client repeating its request: it missed our answer
            if allowed and repeat is not None and data[:2] in (b"\x00\x01", b"\x00\x02"):
                repeat()
            return
        if isinstance(packet, MalformedPacket):
            self._refuse(address, len(data), packet.code, str(packet))
            return
        if ruling is None:
            return  # a stray packet
        direction = "download" if ruling.request.opcode == RRQ else "upload"
        if ruling.refusal is not None:
            log.info("tftp: %s %r from %s refused: %s", direction, ruling.asked, who, ruling.refusal)
            self.transfers.refused("tftp", direction, who, ruling.asked, f"ERROR {ERR_ACCESS}: {ruling.refusal}",
                                   ruling.request.mode)
            self._refuse(address, len(data), ERR_ACCESS, ruling.message)
            return
        request = ruling.request
        refusal = self.admission.refusal(peer[0], who, request)
        if refusal is not None:
            self._refuse(address, len(data), ERR_UNDEFINED, refusal)
            return
        self.active[address] = gevent.spawn(self._serve, request, address, len(data), ruling.asked)
        self.admission.admit(peer[0])
        self.active[address].link(lambda greenlet: self._forget(address, greenlet))
        self.tap.counters.clients = len(self.active)

    def _refuse(self, address: SockAddress, request_size: int, code: int, message: str) -> None:
        """ERROR from the well-known port, never larger than the request (no amplifier)."""
        packet = error_reply.within(code, message, request_size)
        if packet is not None:
            self._reply(self.socket, self.local, address, packet)

    def _forget(self, address: SockAddress, greenlet: greenlet) -> None:
        """The transfer of this greenlet no longer counts (once: an upload's is freed before it lingers)."""
        if self.active.get(address) is greenlet:
            del self.active[address]
            self.admission.release(plain_address(address)[0])
        self.tap.counters.clients = len(self.active)

    def _serve(self, request: Request, address: SockAddress, request_size: int, asked: str) -> None:
        sock = gsocket.socket(self.socket.family, socket.SOCK_DGRAM)
        held = 0  # window bytes this download holds
        who = format_address(plain_address(address))
        direction = "download" if request.opcode == RRQ else "upload"
        try:
            budget = self.admission.window_budget()
            transfer, finish, refusal = self._open(request, budget)  # the store's checks, the options
            try:
                bound = self.admission.bind_transfer_port(sock, self.local[0], who, request.filename)
            except OSError:
                if transfer is not None:
                    finish(False)  # nothing opened is left behind
                raise
            if transfer is None or not bound:
                if transfer is not None:  # no port: the file opened is closed, an upload's part removed
                    finish(False)
                code, reason = refusal or (ERR_UNDEFINED, "no free transfer port")
                log.info("tftp: %s %r from %s refused: %s", direction, request.filename, who, reason)
                self.transfers.refused("tftp", direction, who, request.filename,
                                       f"ERROR {code}: " + ("File not found" if code == ERR_NOT_FOUND else reason),
                                       request.mode, asked)
                packet = error_reply.fit(encode_error(code, reason), request_size)
                if bound:
                    self._reply(sock, local_address(sock), address, packet)
                else:  # from the well-known port, as the other refusals there
                    self._reply(self.socket, self.local, address, packet)
                return
            if isinstance(transfer, ReadTransfer):
                held = self.admission.hold_window(request, budget, transfer.windowsize, transfer.blksize, who)
            record = self.transfers.begin(
                "tftp", direction, who, request.filename, transfer.size,
                " ".join(f"{k}={v}" for k, v in transfer.options.items()) or request.mode, asked)
            drive = TftpDrive(sock, self.tap, peer=address, limit_errors=True, quiet_send_errors=True)
            # the client repeating its request (it missed our first answer) is heard on the well-known port
            self.repeats[address] = lambda: drive.send_all(transfer.repeated_request(time.monotonic()),
                                                           limit=request_size)
            try:
                drive.run(transfer, transfer.start(time.monotonic()), request_size=request_size,
                          on_progress=record.advance)
            except Exception as exc:  # a full disk, an I/O error: tell the client, keep nothing
                log.exception("tftp: transfer of %r failed", request.filename)
                transfer.done, transfer.error = True, f"server error: {exc}"
                drive.send_all([encode_error(ERR_UNDEFINED, "Server error, transfer abandoned")])
            finally:
                self.repeats.pop(address, None)
            ok = transfer.done and transfer.error is None
            try:
                stored = finish(ok)  # commits an upload only when it is complete
            except OSError as exc:
                transfer.error = f"could not store the file: {exc}"
                log.warning("tftp: upload of %r could not be stored: %s", request.filename, exc)
                ok, stored = False, None
            if stored is not None and (name := self.store.relative(stored)) != record.file:  # --tftp-rename
                record.file, record.asked = name, asked
            record.finish(transfer.error)
            self._log_result(request, address, transfer, record.file)
            if ok and isinstance(transfer, WriteTransfer):
                self._forget(address, gevent.getcurrent())  # done: the slot is free while it lingers
                self._dally(transfer, drive)
        finally:
            self.admission.release_window(held)
            sock.close()

    def _dally(self, transfer: WriteTransfer, drive: TftpDrive) -> None:
        """Stay a while after an upload: if our final ACK was lost the client repeats its last
        DATA, on its own timer (tftp-hpa: 5 s), so a second of lingering (tftpd-hpa's) is
        not enough: two of its resends fit in. At most as many uploads linger as transfers
        may run; the rest do not."""
        if self.lingering >= self.admission.max_transfers:
            return
        self.lingering += 1
        try:
            drive.linger(transfer, transfer.peer_timer + 1)
        finally:
            self.lingering -= 1

    def _open(self, request: Request, window_bytes: int
              ) -> tuple[ReadTransfer | WriteTransfer | None, Finish, tuple[int, str] | None]:
        """(transfer, finish, None) or (None, a finish that does nothing, (code, reason))."""
        try:
            if request.opcode == RRQ:
                path, size = self.store.open_for_reading(request.filename)
                source = open(path, "rb")  # noqa: SIM115  # open for the transfer: finish closes it
                return (ReadTransfer(request, source.read, size, self.retries, window_bytes),
                        lambda ok: source.close(), None)
            if not self.allow_write:
                raise PermissionError("uploads are disabled (start sockdash with --tftp-write)")
            writer = self.policy.writer(request.filename, overwrite=self.overwrite)
            room = min(self.max_upload, shutil.disk_usage(self.store.root).free)  # tsize over it: ERROR 3
            transfer = WriteTransfer(request, writer.write, room, self.retries, self.admission.window_bytes)
            return transfer, lambda ok: self.policy.commit(writer, ok), None
        except (UnsafePath, PermissionError, IsADirectoryError) as exc:
            return None, _nothing_opened, (ERR_ACCESS, str(exc))
        except FileNotFoundError:
            return None, _nothing_opened, (ERR_NOT_FOUND, "Not found")  # short: the reply may not outgrow the request
        except FileExistsError:
            return None, _nothing_opened, (ERR_EXISTS, "File already exists")
        except NotADirectoryError:  # "FILE/x" where FILE is a file: nothing by that name
            return None, _nothing_opened, (ERR_NOT_FOUND, "Not found")
        except OSError as exc:  # a name too long for the file system, an I/O error: the client hears why
            log.info("tftp: %r could not be opened: %s", request.filename, exc)
            return None, _nothing_opened, (ERR_ACCESS, exc.strerror or "cannot open")

    def _reply(self, sock: socket.socket, local: Address, address: SockAddress, packet: bytes) -> None:
        try:
            sock.sendto(packet, address)
        except OSError as exc:
            log.debug("tftp: send to %s failed: %s", address, exc)
            return
        self.tap.sent(local, plain_address(address), packet)

    def _log_result(self, request: Request, address: SockAddress, transfer: ReadTransfer | WriteTransfer,
                    stored: str) -> None:
        kind = "download" if request.opcode == RRQ else "upload"
        who = format_address(plain_address(address))
        renamed = f", stored as {stored!r}" if stored != request.filename else ""
        if transfer.error is None:
            log.info("tftp: %s of %r by %s done, %d bytes%s", kind, request.filename, who, transfer.bytes_moved,
                     renamed)
        else:
            log.warning("tftp: %s of %r by %s failed: %s", kind, request.filename, who, transfer.error)
