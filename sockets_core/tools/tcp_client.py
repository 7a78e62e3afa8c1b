"""The TCP client tool: connect to HOST:PORT, show what comes back, send text or hex."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gevent import socket as gsocket

from ..addresses import format_address
from ..servers.listen import plain_address
from .base import ToolError, ToolSession, send_within

if TYPE_CHECKING:
    from .sessions import ToolManager

CONNECT_TIMEOUT = 5.0


class TcpClientSession(ToolSession):
    kind = "tcp-client"

    def __init__(self, manager: ToolManager, host: str, port: int) -> None:
        address = manager.check_target(host)  # resolved once: we connect to what was checked
        try:
            self.sock = gsocket.create_connection((address, port), timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ToolError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        super().__init__(manager, f"TCP client to {host}:{port}")
        self._closed_tapped = False
        self.sock.settimeout(None)
        self.local = plain_address(self.sock.getsockname())
        self.peer = plain_address(self.sock.getpeername())

    def start(self) -> None:
        self.manager.tap.opened(self.local, self.peer, by="us")
        self.record("info", format_address(self.peer), info="connected")
        self.spawn(self._read)

    def _read(self) -> None:
        who = format_address(self.peer)
        try:
            while data := self.sock.recv(65536):
                self.manager.tap.received(self.local, self.peer, data)
                self.record("in", who, data)
            self.record("info", who, info="closed by the peer")
        except OSError as exc:
            self.record("info", who, info=f"connection lost: {exc.strerror or exc}")
        self._tap_closed("peer")
        self.open = False
        self.sock.close()
        self.manager.changed(self)

    def _tap_closed(self, by: str) -> None:
        if not self._closed_tapped:
            self._closed_tapped = True
            self.manager.tap.closed(self.local, self.peer, by)

    def send(self, data: bytes, to: str | None) -> None:
        if not self.open:
            raise ToolError("the connection is closed")
        send_within(self.manager, self.sock, data, format_address(self.peer))
        self.manager.tap.sent(self.local, self.peer, data)
        self.record("out", format_address(self.peer), data)

    def _close_sockets(self) -> None:
        self._tap_closed("us")
        self.sock.close()
