"""The one loop that moves a sans-I/O TFTP machine's datagrams over a socket.

The server's transfers (ReadTransfer / WriteTransfer on their own port) and the client
(TftpClient, for `sockdash tftp` and the Tools page's jobs) are driven the same way:

- send the machine's start packets;
- receive until the machine's timer; on a datagram, ``receive``, at the timer, ``handle_timer``;
- every packet in and out goes through the tap (the service's counters and the packet log);
- a datagram from another address gets the machine's wrong-source reply (RFC 1350: ERROR 5)
  and changes nothing; a client learns its partner (the server's transfer ID) from the
  first answer from the server's host;
- progress is reported as the bytes moved since the last report.

A server must never answer with more bytes than it received (an amplifier for a spoofed
source): ``limit_errors`` cuts every ERROR to the size of the datagram it answers (the
start packets to the request's size). A repeated request (the client missed the first
answer) is answered through ``send_all`` by whoever hears it (the server's well-known port).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from ..addresses import Address, SockAddress
from ..tftp import error_reply
from ..tftp.packets import ERROR
from .listen import plain_address
from .mmsg import BatchSender
from .timed import DatagramReceiver

log = logging.getLogger(__name__)

ERROR_OPCODE = ERROR.to_bytes(2, "big")


class Machine(Protocol):
    """What ReadTransfer, WriteTransfer and TftpClient have in common."""

    done: bool

    @property
    def bytes_moved(self) -> int: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> list[bytes]: ...

    def receive(self, data: bytes, now: float) -> list[bytes]: ...

    def wrong_source_reply(self) -> bytes: ...


class Tap(Protocol):
    """A ServiceTap, or anything that counts and logs packets the same way."""

    def received(self, local: Address, peer: Address, data: bytes) -> None: ...

    def sent(self, local: Address, peer: Address, data: bytes) -> None: ...


class TftpDrive:
    """One transfer's socket. ``peer`` is the partner's address when it is known (a server
    knows its client from the request); a client passes ``server`` to ``run`` instead and
    the partner becomes whoever of that host answers first.

    ``unreachable(exc)``: called with an OSError of a receive (an ICMP error reported on the
    socket); True when it ended the machine (the loop stops), False to raise it.
    ``quiet_send_errors``: a failed send is logged and dropped (the server: the resend timer
    covers it) instead of raised (the client: the user is told).
    """

    def __init__(self, sock: socket.socket, tap: Tap | None = None, *, peer: SockAddress | None = None,
                 limit_errors: bool = False, quiet_send_errors: bool = False,
                 unreachable: Callable[[OSError], bool] | None = None) -> None:
        self.sock = sock
        self.tap = tap
        self.peer = peer
        self.local: Address = plain_address(sock.getsockname())
        self.limit_errors = limit_errors
        self.quiet_send_errors = quiet_send_errors
        self.unreachable = unreachable
        self.batches = BatchSender(sock)  # a window to one address: one system call (GSO or sendmmsg)
        self.receiver = DatagramReceiver(sock)  # one wait a block, without a Timeout object each
        self._plain: tuple[SockAddress | None, Address | None] = (None, None)  # the last address shown

    def _shown(self, address: SockAddress) -> Address:
        """``plain_address`` of ``address``, remembered for the partner's (every packet's)."""
        last, shown = self._plain
        if address == last and shown is not None:
            return shown
        shown = plain_address(address)
        self._plain = (address, shown)
        return shown

    # -- one packet ---------------------------------------------------------------------------
    def send(self, packet: bytes, to: SockAddress) -> None:
        try:
            self.sock.sendto(packet, to)
        except OSError as exc:
            if not self.quiet_send_errors:
                raise
            log.debug("tftp: send to %s failed: %s", to, exc)
            return
        if self.tap is not None:
            self.tap.sent(self.local, self._shown(to), packet)

    def send_all(self, packets: Iterable[bytes], to: SockAddress | None = None, limit: int | None = None) -> None:
        """Send ``packets`` (to the partner by default) in as few system calls as the system
        allows (mmsg.py); with ``limit_errors``, each ERROR cut to ``limit`` bytes (the size
        of what it answers). Every packet that went is tapped; one that failed is dropped
        (quiet_send_errors) or raised, as by ``send``."""
        target = to if to is not None else self.peer
        if target is None:
            raise ValueError("no partner to send to yet")
        if self.limit_errors and limit is not None:
            rest = [self._fit(packet, limit) for packet in packets]
        else:
            rest = packets if isinstance(packets, list) else list(packets)
        while rest:
            sent, error = self.batches.send(rest, target)
            if self.tap is not None:
                peer = self._shown(target)
                for packet in rest[:sent]:
                    self.tap.sent(self.local, peer, packet)
            if error is not None:
                if not self.quiet_send_errors:
                    raise error
                log.debug("tftp: send to %s failed: %s", target, error)
                sent += 1  # dropped, as a single send drops it; the resend timer covers it
            rest = rest[sent:]

    def receive(self, deadline: float | None) -> tuple[bytes, SockAddress] | None:
        """A datagram (tapped) and its source, or None at ``deadline``."""
        received = self.receiver.receive(deadline)
        if received is not None and self.tap is not None:
            self.tap.received(self.local, self._shown(received[1]), received[0])
        return received

    def _fit(self, packet: bytes, limit: int | None) -> bytes:
        # only an ERROR is ever cut: a DATA (every block, longer than the ACK it answers) is
        # told by its opcode here, without a call
        if self.limit_errors and limit is not None and len(packet) > limit and packet[:2] == ERROR_OPCODE:
            return error_reply.fit(packet, limit)
        return packet

    # -- the transfer ---------------------------------------------------------------------------
    def run(self, machine: Machine, start: Iterable[bytes], *, server: SockAddress | None = None,
            request_size: int | None = None, on_progress: Callable[[int], None] | None = None) -> None:
        """Drive ``machine`` until it is done. ``start``: its first packets (to the partner, or
        to ``server`` while the partner is unknown), cut to ``request_size`` with limit_errors.
        ``on_progress(bytes)``: the bytes moved since the last call, whenever there are some."""
        try:
            self._run(machine, start, server, request_size, on_progress)
        finally:
            self.receiver.close()

    def _run(self, machine: Machine, start: Iterable[bytes], server: SockAddress | None,
             request_size: int | None, on_progress: Callable[[int], None] | None) -> None:
        self.send_all(start, self.peer or server, request_size)
        moved = 0
        while not machine.done:
            try:
                received = self.receive(machine.get_timer())
            except OSError as exc:
                if self.unreachable is not None and self.unreachable(exc):
                    break
                raise
            if received is None:
                replies = machine.handle_timer(time.monotonic())
                size = None
            else:
                data, source = received
                size = len(data)
                if self.peer is None and server is not None and source[0] == server[0]:
                    self.peer = source  # the partner's transfer ID: its first answer's port
                elif source != self.peer:
                    self.send(self._fit(machine.wrong_source_reply(), size), source)
                    continue
                replies = machine.receive(data, time.monotonic())
            if on_progress is not None and machine.bytes_moved != moved:
                on_progress(machine.bytes_moved - moved)
                moved = machine.bytes_moved
            self.send_all(replies, self.peer or server, size)

    def linger(self, machine: Machine, seconds: float) -> None:
        """Stay ``seconds`` after the end, answering the partner: if our last packet (the final
        ACK) was lost, it sends its last one again and must hear the answer, or it records the
        transfer as failed. Anyone else is not answered."""
        try:
            self._linger(machine, time.monotonic() + seconds)
        finally:
            self.receiver.close()

    def _linger(self, machine: Machine, deadline: float) -> None:
        while self.peer is not None:
            try:
                received = self.receive(deadline)
            except OSError:  # an ICMP error: the partner is gone, and the transfer is over anyway
                return
            if received is None:
                return
            data, source = received
            if source == self.peer:
                self.send_all(machine.receive(data, time.monotonic()), self.peer, len(data))
