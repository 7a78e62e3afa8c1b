"""What every tool session has: an event log, byte counters, repeats, close.

A session keeps its last MAX_EVENTS events (what was received and sent, connects,
closes, ICMP errors) for a page that reattaches after a reload, and publishes each on the
bus topic ``tools``. Every event carries a per-session sequence number, so a page can put
events in order and drop one it already has. A session is announced (its state
published) before its first event: ``ToolManager.add`` publishes the state, then calls
``start``, which is where a kind records "connected" / "listening" and spawns its readers.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import gevent
from gevent import socket as gsocket

from ..chat.autoreply import AutoResponder
from ..servers.listen import BindError
from ..textcodec import ESCAPED, UTF8, decode, encode
from .payload import ENCODINGS

if TYPE_CHECKING:
    from .sessions import ToolManager

TOOLS_TOPIC = "tools"
MAX_EVENTS = 300
MAX_EVENT_BYTES = 4096  # kept per event for the page (the packet log keeps its own 256)
MAX_REPEATS = 4  # running at once per session
SEND_TIMEOUT = 5.0  # a TCP peer that does not read for this long fails the send
MAX_REPEAT = 10_000
MIN_REPEAT_MS = 10


class ToolError(ValueError):
    """A refused tool action; the message is for the admin."""


@dataclass(frozen=True)
class ToolEvent:
    seq: int
    time: float
    direction: str  # "in" | "out" | "info"
    peer: str
    data: bytes = b""  # at most MAX_EVENT_BYTES of it
    length: int = 0  # the true length
    info: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "time": self.time, "direction": self.direction, "peer": self.peer,
                "hex": self.data.hex(), "length": self.length, "info": self.info}


@dataclass
class ByteCounters:
    """What a session received and sent since it opened or was last cleared."""

    rx_bytes: int = 0
    rx_count: int = 0
    tx_bytes: int = 0
    tx_count: int = 0

    def count(self, direction: str, length: int) -> None:
        if direction == "in":
            self.rx_bytes += length
            self.rx_count += 1
        elif direction == "out":
            self.tx_bytes += length
            self.tx_count += 1

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class ToolSession:
    kind = "tool"

    def __init__(self, manager: ToolManager, label: str) -> None:
        self.responder = AutoResponder()  # used by the server sessions (TCP server, UDP)
        self.id = next(manager.ids)
        self.manager = manager
        self.label = label
        self.open = True
        self.events: deque[ToolEvent] = deque(maxlen=MAX_EVENTS)
        self.counters = ByteCounters()
        self.encoding = "utf-8"  # how the page shows and sends text; a setting of the session, so a reload keeps it
        self._seq = itertools.count(1)
        self._greenlets: list[gevent.Greenlet[..., Any]] = []
        self._repeats: list[gevent.Greenlet[..., Any]] = []

    def start(self) -> None:
        """Begin: the manager has announced the session, so its events may follow."""

    def record(self, direction: str, peer: str, data: bytes = b"", info: str = "") -> None:
        self.counters.count(direction, len(data))
        event = ToolEvent(next(self._seq), time.time(), direction, peer, bytes(data[:MAX_EVENT_BYTES]),
                          len(data), info)
        self.events.append(event)
        self.manager.bus.publish(TOOLS_TOPIC, {"session": self.id, "event": event.as_dict()})

    def clear(self) -> None:
        """Forget the events and zero the counters (for every page watching)."""
        self.events.clear()
        self.counters = ByteCounters()
        self.manager.bus.publish(TOOLS_TOPIC, {"session": self.id, "cleared": True})
        self.manager.changed(self)

    def set_encoding(self, encoding: str) -> None:
        if encoding not in ENCODINGS:
            raise ToolError(f"unknown encoding {encoding!r}: choose {', '.join(ENCODINGS)}")
        self.encoding = encoding
        self.manager.changed(self)

    def spawn(self, function: Callable[..., Any], *args: Any) -> gevent.Greenlet[..., Any]:
        self._greenlets = [g for g in self._greenlets if not g.dead]
        greenlet = gevent.spawn(function, *args)
        self._greenlets.append(greenlet)
        return greenlet

    def fix_target(self, to: str | None) -> str | None:
        """Where a repeat sends, decided once when it starts."""
        return to

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "open": self.open, "peers": self.peers(),
                "rules": [r.as_dict() for r in self.responder.rules], "counters": self.counters.as_dict(),
                "encoding": self.encoding,
                "repeating": sum(1 for g in self._repeats if not g.dead) if self.open else 0}

    def auto_answer(self, data: bytes, who: str, to: str | None, ip: str) -> None:
        """Answer a message by the session's rules, in the encoding the peer used."""
        if not self.responder.rules:
            return
        text, encoding = decode(data)
        answer = self.responder.answer(text.rstrip("\r\n"), who, now=time.monotonic(), wall_time=time.time(), key=ip)
        if answer is not None:
            self.send(encode(answer, encoding if encoding != ESCAPED else UTF8), to)

    def peers(self) -> list[str]:
        return []

    def send(self, data: bytes, to: str | None) -> None:
        raise ToolError(f"a {self.kind} cannot send")

    def repeat(self, data: bytes, to: str | None, every_ms: int, count: int) -> None:
        """Send ``count`` times, ``every_ms`` apart, in the background; stop_repeats ends it."""
        if not 1 <= count <= MAX_REPEAT or every_ms < MIN_REPEAT_MS:
            raise ToolError(f"repeat 1-{MAX_REPEAT} times, every {MIN_REPEAT_MS} ms or more")
        if not self.open:
            raise ToolError("the session is closed")
        self._repeats = [g for g in self._repeats if not g.dead]
        if len(self._repeats) >= MAX_REPEATS:
            self.manager.warn("repeats", "%d repeats running on %s (the limit): refused another",
                              MAX_REPEATS, self.label)
            raise ToolError(f"{MAX_REPEATS} repeats are running on this session (the limit)")
        target = self.fix_target(to)

        def run() -> None:
            try:
                for number in range(count):
                    if number:
                        gevent.sleep(every_ms / 1000)
                    if not self.open:
                        return
                    try:
                        self.send(data, target)
                    except Exception as exc:  # any failure ends the repeat, visibly
                        self.record("info", "", info=f"repeat stopped: {exc}")
                        return
            finally:
                self._repeats = [g for g in self._repeats if g is not gevent.getcurrent()]
                if self.open:
                    self.manager.changed(self)  # the page hides its Stop button

        self._repeats.append(self.spawn(run))
        self.manager.changed(self)

    def stop_repeats(self) -> None:
        running, self._repeats = [g for g in self._repeats if not g.dead], []
        gevent.killall(running)
        if running:
            self.record("info", "", info=f"stopped {len(running)} repeat{'s' if len(running) > 1 else ''}")
        self.manager.changed(self)

    def close(self) -> None:
        if not self.open:
            return
        self.open = False
        gevent.killall(self._greenlets, block=False)
        self._close_sockets()
        self.record("info", "", info="closed")
        self.manager.changed(self)

    def _close_sockets(self) -> None:
        pass


def send_within(manager: ToolManager, sock: gsocket.socket, data: bytes, who: str) -> None:
    """sendall with a time limit that leaves the socket's own timeout (its reader's) alone."""
    timeout = gevent.Timeout(SEND_TIMEOUT)
    timeout.start()
    try:
        sock.sendall(data)
    except gevent.Timeout as exc:
        if exc is not timeout:
            raise
        manager.warn("send-timeout", "%s read nothing for %.0f s (the limit): a send was abandoned", who, SEND_TIMEOUT)
        raise ToolError(f"the peer read nothing for {SEND_TIMEOUT:.0f} s: send abandoned") from None
    finally:
        timeout.close()


def bind_for_tool(manager: ToolManager, port: int, make: Callable[[str, str, int], Any]) -> Any:
    """A listening socket for a tool on ``port`` (0: any), never on one of sockdash's own."""
    manager.check_port(port)
    try:
        return make("tools", manager.host, port)
    except BindError as exc:
        raise ToolError(str(exc)) from None
