"""flask-sock's WebSocket (simple-websocket) as a feed's transport (webapp/feed.py).

Two things the library does not do: write a frame whole, and cut a connection without
sending anything more. Its ``send`` is one ``socket.send``, which under gevent writes what
the socket buffer takes and drops the rest when it is full (the browser then gets a
corrupt stream); here the frame is made by the same wsproto connection and written with
``sendall``, which the feed's send timeout can interrupt. After such an interruption half
a frame may be on the wire, so a close frame cannot follow: ``abort`` shuts the socket
down and the library's reader, seeing the end, closes it.

The library's reader greenlet writes too (pongs to a browser's pings, which browsers do
not send), a few bytes with one ``socket.send`` outside the feed's lock. The server's own
pings go through ``ping`` here, under the feed's lock: flask-sock's ping_interval is off
(app.py), since its check closed a connection whose pong was waiting unread whenever the
process had been busy past the interval, and logged nothing (see webapp/feed.py).
"""

from __future__ import annotations

import contextlib
import select
import socket
from typing import Any

from simple_websocket import ConnectionClosed  # type: ignore[import-untyped]
from simple_websocket.ws import Base  # type: ignore[import-untyped]
from wsproto.events import Ping, TextMessage

__all__ = ["ConnectionClosed", "WebSocketTransport"]


class WebSocketTransport:
    """flask-sock's WebSocket (simple-websocket) as a feed's transport."""

    def __init__(self, ws: Any, peer: str) -> None:
        self.ws = ws
        self.peer = peer

    @property
    def connected(self) -> bool:
        return bool(self.ws.connected)

    def receive(self, timeout: float) -> str | bytes | None:
        return self.ws.receive(timeout=timeout)  # type: ignore[no-any-return]

    def send(self, text: str) -> None:
        """The frame whole (sendall), where ws.send would write what one send() takes."""
        if not isinstance(self.ws, Base):  # a stand-in (tests that drive a route directly)
            self.ws.send(text)
            return
        if not self.ws.connected:
            raise ConnectionClosed()
        self.ws.sock.sendall(self.ws.ws.send(TextMessage(data=text)))

    def ping(self) -> None:
        if isinstance(self.ws, Base) and self.ws.connected:
            self.ws.sock.sendall(self.ws.ws.send(Ping()))

    def pong_arrived(self) -> bool:
        """The library notes every pong (``pong_received``) even with its own ping check off."""
        if not isinstance(self.ws, Base):
            return True
        arrived = bool(self.ws.pong_received)
        self.ws.pong_received = False
        return arrived

    def has_input(self) -> bool:
        sock = getattr(self.ws, "sock", None)
        if sock is None:
            return False
        try:
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):  # closed meanwhile
            return False

    def server_closed(self) -> str:
        limit = getattr(self.ws, "max_message_size", None)
        if isinstance(self.ws, Base) and limit and self.ws.incoming_message_len > limit:
            return f"a message over {limit} bytes (limit)"
        return ""

    def close(self) -> None:
        if isinstance(self.ws, Base):
            self.ws.close()

    def abort(self) -> None:
        """Cut the connection: no close frame (half a frame may have gone out). The library's
        reader then sees the end and closes its socket."""
        self.ws.connected = False
        sock = getattr(self.ws, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
