"""A small WebSocket client for the tests and bench/: wsproto (the framing library under
flask-sock's simple-websocket) does the handshake, masking, opcodes and fragments, over a plain
socket that the caller may also poll with selectors. Unlike simple_websocket.Client it shows a
refused handshake (its status and body: the Origin and Host checks answer 403) and it never
starts a thread, so a benchmark can hold hundreds of them."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterable
from typing import Self

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class WebSocketClosed(ConnectionError):
    pass


class WsClient:
    """One client connection. ``status`` is 101 when the server accepted the upgrade, else
    the HTTP status it refused with (``rejection`` then holds its body)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.connection = WSConnection(ConnectionType.CLIENT)
        self.status = 0
        self.rejection = b""
        self.closed = False
        self._texts: list[str] = []
        self._parts: list[str] = []

    @property
    def accepted(self) -> bool:
        return self.status == 101

    # -- handshake -------------------------------------------------------------------------------
    def handshake(self, host_header: str, path: str, headers: Iterable[tuple[str, str]] = (),
                  timeout: float = 5.0) -> None:
        self.sock.sendall(self.connection.send(Request(host=host_header, target=path,
                                                       extra_headers=[(k.encode(), v.encode()) for k, v in headers])))
        deadline = time.monotonic() + timeout
        while not self.status or (not self.accepted and not self.closed):
            if not self._read(deadline):
                raise TimeoutError(f"no complete handshake answer within {timeout} s (status {self.status})")

    # -- messages ----------------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        self.sock.sendall(self.connection.send(Message(data=text)))

    def receive(self, timeout: float = 5.0) -> str | None:
        """The next text message; None if none came within ``timeout``; WebSocketClosed at the end."""
        deadline = time.monotonic() + timeout
        while not self._texts:
            if self.closed:
                raise WebSocketClosed("the server closed the WebSocket")
            if not self._read(deadline):
                return None
        return self._texts.pop(0)

    def feed(self, data: bytes) -> list[str]:
        """Hand over bytes the caller read from ``sock`` itself (a selector loop); the text
        messages they completed. b"" means the server closed the connection."""
        self._handle(data)
        texts, self._texts = self._texts, []
        return texts

    def close(self) -> None:
        try:
            if self.accepted and not self.closed:
                self.sock.sendall(self.connection.send(CloseConnection(code=1000)))
        except OSError:
            pass
        finally:
            self.closed = True
            self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------
    def _read(self, deadline: float) -> bool:
        """Read once (until ``deadline``); False on timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        self._handle(data)
        return True

    def _handle(self, data: bytes) -> None:
        self.connection.receive_data(data or None)
        if not data:
            self.closed = True
        for event in self.connection.events():
            self._event(event)

    def _event(self, event: Event) -> None:
        if isinstance(event, AcceptConnection):
            self.status = 101
        elif isinstance(event, RejectConnection):
            self.status = event.status_code
            self.closed = self.closed or not event.has_body
        elif isinstance(event, RejectData):
            self.rejection += event.data
            self.closed = self.closed or event.body_finished
        elif isinstance(event, TextMessage):
            self._parts.append(event.data)
            if event.message_finished:
                self._texts.append("".join(self._parts))
                self._parts.clear()
        elif isinstance(event, Ping):
            self.sock.sendall(self.connection.send(event.response()))
        elif isinstance(event, CloseConnection):
            self.closed = True
            with contextlib.suppress(OSError):  # the peer may be gone already: nothing to answer
                self.sock.sendall(self.connection.send(event.response()))


def connect(host: str, port: int, path: str, *, origin: str | None = None, host_header: str | None = None,
            headers: Iterable[tuple[str, str]] = (), timeout: float = 5.0) -> WsClient:
    """Open ``ws://host:port/path``; the result says whether the upgrade was accepted (``status``)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    client = WsClient(sock)
    extra = list(headers) + ([("Origin", origin)] if origin is not None else [])
    try:
        client.handshake(host_header or f"{host}:{port}", path, extra, timeout)
    except BaseException:
        sock.close()
        raise
    return client
