"""What a WebSocket feed (webapp/feed.py) is made of besides its loops: the ``Frame`` a route
sends, the ``FeedRoute`` a route subclasses (what it sends, how it answers requests) and the
``Transport`` the feed reads and writes (WebSocketTransport; a fake in the tests).

Apart from ``Feed`` so a route module needs only this contract, and feed.py holds only how a
feed runs: the reader, the writer, sending, keepalive, ending.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sockets_core.bus import Batch

from .frames import FrameError, to_json


@dataclass(frozen=True)
class Frame:
    """One message to the browser, serialised once. ``private``: it carries a direct message
    (the packet log keeps such frames' payload for the admin only)."""

    text: str
    private: bool = False


Out = dict[str, Any] | str | Frame


def as_frame(message: Out) -> Frame:
    if isinstance(message, Frame):
        return message
    return Frame(message if isinstance(message, str) else to_json(message))


class Transport(Protocol):
    """The socket side of a feed (WebSocketTransport; a fake in the tests)."""

    peer: str

    @property
    def connected(self) -> bool: ...

    def receive(self, timeout: float) -> str | bytes | None: ...

    def send(self, text: str) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def ping(self) -> None:
        """Send a WebSocket ping (the browser answers with a pong)."""

    def pong_arrived(self) -> bool:
        """Whether a pong came since the last call."""

    def has_input(self) -> bool:
        """Whether bytes wait to be read (the browser spoke; we have not read it yet)."""

    def server_closed(self) -> str:
        """Why the library closed the connection itself ("" if it did not)."""


class FeedRoute:
    """What a route sends and how it answers; the defaults send nothing and take no requests."""

    drop_note = True  # False: the route's frames carry the count of what was dropped themselves

    def opening(self) -> Iterable[Out]:
        """The frames a browser gets first (a snapshot): sent before any batch."""
        return ()

    def render(self, batch: Batch) -> Iterable[Out]:
        """The frames for one batch (empty on a quiet wake)."""
        return ()

    def on_request(self, message: dict[str, Any]) -> Iterable[Out]:
        """The replies to one request; FrameError or ValueError: an error_frame with its text."""
        raise FrameError("this feed takes no requests")

    def error_frame(self, text: str) -> dict[str, Any]:
        return {"type": "error", "error": text}

    def on_text(self, text: str | bytes, message: dict[str, Any] | None) -> None:
        """Every frame received, parsed (``message``) or not (None)."""

    def on_sent(self, frame: Frame) -> None:
        """Every frame sent."""

    def close(self) -> None:
        """The feed ended (either side): release what the route holds."""
