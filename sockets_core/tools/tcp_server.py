"""The TCP server tool: listen on a port, list the clients, send to one or all, kick one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gevent import socket as gsocket

from ..addresses import format_address
from ..servers.listen import local_address, plain_address, tcp_listener
from .base import ToolError, ToolSession, bind_for_tool, send_within

if TYPE_CHECKING:
    from .sessions import ToolManager


class TcpServerSession(ToolSession):
    kind = "tcp-server"

    def __init__(self, manager: ToolManager, port: int) -> None:
        self.listener = bind_for_tool(manager, port, tcp_listener)
        self.local = local_address(self.listener)
        super().__init__(manager, f"TCP server on port {self.local[1]}")
        self.clients: dict[str, gsocket.socket] = {}

    def start(self) -> None:
        self.record("info", "", info=f"listening on {format_address(self.local)}")
        self.spawn(self._accept)

    def _accept(self) -> None:
        while True:
            sock, address = self.listener.accept()
            peer = plain_address(address)
            self.clients[format_address(peer)] = sock
            self.manager.tap.opened(self.local, peer)
            self.record("info", format_address(peer), info="client connected")
            self.manager.changed(self)
            self.spawn(self._serve, sock, peer)

    def _serve(self, sock: gsocket.socket, peer: tuple[str, int]) -> None:
        who = format_address(peer)
        try:
            while data := sock.recv(65536):
                self.manager.tap.received(self.local, peer, data)
                self.record("in", who, data)
                self.auto_answer(data, who, who, peer[0])
        except (OSError, ToolError):
            pass
        sock.close()
        if self.clients.pop(who, None) is not None:
            self.manager.tap.closed(self.local, peer, "peer")
            self.record("info", who, info="client left")
            self.manager.changed(self)

    def peers(self) -> list[str]:
        return sorted(self.clients)

    def send(self, data: bytes, to: str | None) -> None:
        if to and to not in self.clients:
            raise ToolError("no such client")
        targets = [(to, self.clients[to])] if to else list(self.clients.items())  # a snapshot: sends yield
        if not targets:
            raise ToolError("no client is connected")
        for who, sock in targets:
            try:
                send_within(self.manager, sock, data, who)
                peer = plain_address(sock.getpeername())
            except (OSError, ToolError) as exc:
                self.record("info", who, info=f"send failed: {exc}")
                continue
            self.manager.tap.sent(self.local, peer, data)
            self.record("out", who, data)

    def kick(self, who: str) -> None:
        sock = self.clients.pop(who, None)
        if sock is None:
            raise ToolError("no such client")
        self._drop(sock)
        self.record("info", who, info="kicked")
        self.manager.changed(self)

    def _drop(self, sock: gsocket.socket) -> None:
        try:
            peer = plain_address(sock.getpeername())
            self.manager.tap.closed(self.local, peer, "us")
        except OSError:
            pass
        sock.close()

    def _close_sockets(self) -> None:
        self.listener.close()
        for sock in list(self.clients.values()):
            self._drop(sock)
        self.clients.clear()
