"""The UDP tool: a bound socket that sends datagrams to HOST:PORT or back to the last sender,
shows what arrives, and reports an ICMP error (a closed port) the moment it comes back."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING, cast

from .. import icmp
from ..addresses import AddressError, SockAddress, format_address, parse_hostport
from ..icmp import enable_icmp_errors
from ..servers.listen import local_address, plain_address, udp_socket
from .base import ToolError, ToolSession, bind_for_tool

if TYPE_CHECKING:
    from .sessions import ToolManager


ICMP_ERRNOS = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN,
                         errno.EMSGSIZE, errno.EPROTO, errno.ENOPROTOOPT, errno.EACCES, errno.ETIMEDOUT})
MAX_ERRORS_AT_ONCE = 64  # read from the error queue per failed recvfrom; the kernel keeps the rest


class UdpSession(ToolSession):
    kind = "udp"

    def __init__(self, manager: ToolManager, port: int) -> None:
        self.sock = bind_for_tool(manager, port, udp_socket)
        self.local = local_address(self.sock)
        super().__init__(manager, f"UDP on port {self.local[1]}")
        self.last_sender: tuple[str, int] | None = None
        self.icmp_errors = enable_icmp_errors(self.sock)

    def start(self) -> None:
        self.record("info", "", info=f"bound to {format_address(self.local)}")
        self.spawn(self._read)

    def _read(self) -> None:
        while True:
            try:
                data, address = self.sock.recvfrom(65536)
            except OSError as exc:  # an ICMP error for a datagram we sent: say so now
                if not self._report_errors(exc):
                    return
                continue
            peer = plain_address(address)
            self.last_sender = address
            self.manager.udp_tap.received(self.local, peer, data)
            self.record("in", format_address(peer), data)
            try:
                self.auto_answer(data, format_address(peer), None, peer[0])  # None: reply to the sender
            except (ToolError, OSError) as exc:
                self.record("info", format_address(peer), info=f"auto-response failed: {exc}")

    def _report_errors(self, exc: OSError) -> bool:
        """Log the queued ICMP errors; False when the socket itself failed (stop reading)."""
        if self.sock.fileno() < 0:
            return False  # closed under us
        reported = 0
        for error, destination in self._queued_errors():
            self.record("info", destination, info=error.describe(destination))
            reported += 1
        if reported:
            return True
        if exc.errno in ICMP_ERRNOS:  # no error queue (not Linux): the bare error is all we know
            self.record("info", "", info=f"ICMP error for a datagram sent earlier: {exc.strerror or exc}")
            return True
        self.record("info", "", info=f"socket failed: {exc.strerror or exc}; nothing more is received")
        return False

    def _queued_errors(self) -> list[tuple[icmp.IcmpError, str]]:
        if not self.icmp_errors:
            return []
        found = []
        timeout = self.sock.gettimeout()
        self.sock.settimeout(0.0)  # read the queue without waiting (no other greenlet runs meanwhile)
        try:
            for _ in range(MAX_ERRORS_AT_ONCE):
                try:
                    _, ancillary, _, address = self.sock.recvmsg(1, 512, socket.MSG_ERRQUEUE)
                except (BlockingIOError, InterruptedError):
                    break
                destination = format_address(plain_address(address)) if address else "?"
                for level, kind, data in ancillary:
                    error = icmp.parse_extended_error(level, kind, data)
                    if error is not None:
                        found.append((error, destination))
        finally:
            self.sock.settimeout(timeout)
        return found

    def fix_target(self, to: str | None) -> str | None:
        if to or self.last_sender is None:
            return to
        return format_address(plain_address(self.last_sender))  # not whoever sends next

    def send(self, data: bytes, to: str | None) -> None:
        if to:
            try:
                host, port = parse_hostport(to)
            except AddressError as exc:
                raise ToolError(f"send to HOST:PORT: {exc}") from None
        elif self.last_sender is not None:
            host, port = self.last_sender[0], self.last_sender[1]  # reply to whoever spoke last
        else:
            raise ToolError("give HOST:PORT (nobody has sent to this socket yet)")
        checked = self.manager.check_target(host)  # a reply too: --tools-allow has no exception
        try:
            # asked in the socket's family, AF_INET or AF_INET6: getaddrinfo's (int, bytes) kind is
            # only for IPv6 in a Python built without it, where this socket could not exist
            address = cast(SockAddress, socket.getaddrinfo(checked, port, self.sock.family, socket.SOCK_DGRAM)[0][4])
            self.sock.sendto(data, address)
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ToolError(f"cannot send to {format_address((host, port))}: {reason}") from None
        peer = plain_address(address)
        self.manager.udp_tap.sent(self.local, peer, data)
        self.record("out", format_address(peer), data)

    def _close_sockets(self) -> None:
        self.sock.close()
