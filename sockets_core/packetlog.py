"""The packet log: one record per connect, segment, datagram and close, in ring buffers.

Recording sits on every service's hot path, so ``PacketLog.record`` only builds a slotted
record, slices the payload and appends it: no formatting, no I/O. Rendering (hex, JSON,
pcap) happens when somebody looks. Each record is also published on the bus topic
``packet`` so that pages and the log file can follow the log live.

Each service has its own ring of ``capacity`` events (the packet-log budget of
DESIGN.md): a 40 MiB TFTP download is 80,000 packets and would otherwise push every
chat line out of a shared ring. ``iter_events()`` merges the rings back into one timeline
lazily, over a snapshot (copies of the rings, one C call each), so an export of 40,000
events can walk it in steps and let the rest of the process run in between.

Direct messages are ``private``: their events keep their bytes (the admin sees them), and
``for_viewer`` gives everyone else the length and the summary "direct message" only.
"""

from __future__ import annotations

import heapq
import json
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from operator import attrgetter
from time import time_ns
from typing import Any, NamedTuple

# older modules (servers/tftp.py) still import these two from here
from .addresses import Address, format_address
from .bus import Bus
from .textcodec import readable

PACKET_TOPIC = "packet"
PAYLOAD_KEEP = 256
PRIVATE_SUMMARY = "direct message"  # all a viewer without the admin token sees of one

# Services whose events are summarised only when somebody looks (no formatting on the hot
# path): service -> f(first bytes of payload, full length) -> summary.
LAZY_SUMMARIES: dict[str, Callable[[bytes, int], str]] = {}


class PacketEvent(NamedTuple):
    """One recorded event. A named tuple, not a frozen dataclass: one is made for every
    datagram a transfer moves, and a frozen dataclass's ``__init__`` (one
    ``object.__setattr__`` per field) cost ~1.3 µs of the ~1.7 µs a record took (bench/tftp.py:
    the packet-log tap was 28 % of a lock-step transfer's Python time). Immutable all the same."""

    id: int
    time_us: int
    service: str
    transport: str  # "tcp" | "udp" | "ws"
    kind: str  # "open" | "data" | "close"
    direction: str  # "in" | "out" (open and close: "in" = by the peer, "out" = by us)
    local: Address
    peer: Address
    length: int  # full length; payload keeps only the first PAYLOAD_KEEP bytes
    summary: str
    payload: bytes
    private: bool = False  # carries (part of) a direct message: payload for the admin only

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time_us": self.time_us,
            "service": self.service,
            "transport": self.transport,
            "kind": self.kind,
            "direction": self.direction,
            "local": format_address(self.local),
            "peer": format_address(self.peer),
            "length": self.length,
            # a TFTP filename that is not UTF-8 comes as surrogate escapes: shown readable,
            # or the JSON of this event could not be encoded at all
            "summary": readable(self.summary or self.describe()),
            "payload_hex": self.payload.hex(),
            "private": self.private,
        }

    def for_viewer(self, admin: bool) -> PacketEvent:
        """The event as this viewer may see it: a direct message's bytes and summary only
        for the admin; the length stays, so pcap sequence numbers stay true."""
        if admin or not self.private:
            return self
        return self._replace(summary=PRIVATE_SUMMARY, payload=b"")

    def describe(self) -> str:
        summarize = LAZY_SUMMARIES.get(self.service)
        return summarize(self.payload, self.length) if summarize is not None and self.kind == "data" else ""

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


class PacketLog:
    def __init__(self, bus: Bus | None = None, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("the packet log keeps at least one event")
        self.capacity = capacity  # per service
        self.recorded = 0
        self._rings: dict[str, deque[PacketEvent]] = {}
        self._bus = bus

    def record(self, service: str, transport: str, kind: str, direction: str,
               local: Address, peer: Address, data: bytes | int = b"", summary: str = "",
               private: bool = False) -> PacketEvent:
        """Record one event; ``data`` is the payload, or just its length when the bytes
        never passed through Python (sendfile)."""
        self.recorded = number = self.recorded + 1
        if data.__class__ is bytes:  # the usual case first: a datagram's bytes
            length, payload = len(data), data[:PAYLOAD_KEEP]
        elif isinstance(data, int):
            length, payload = data, b""
        else:
            length, payload = len(data), bytes(data[:PAYLOAD_KEEP])
        if len(local) != 2:
            local = (local[0], local[1])
        if len(peer) != 2:
            peer = (peer[0], peer[1])
        event = _new_event(PacketEvent, (number, time_ns() // 1000, service, transport, kind, direction,
                                         local, peer, length, summary, payload, private))
        ring = self._rings.get(service)
        if ring is None:
            ring = self._rings[service] = deque(maxlen=self.capacity)
        ring.append(event)
        if self._bus is not None:
            self._bus.publish(PACKET_TOPIC, event)
        return event

    def ingest(self, event: PacketEvent) -> PacketEvent:
        """An event another instance recorded (``--bus``: cluster/packets.py), numbered here as
        a local one is (ids keep growing in every ring, so the page, the exports and the live
        feed take it like any other); it counts in ``recorded`` and shares its service's ring."""
        self.recorded = number = self.recorded + 1
        event = event._replace(id=number)
        ring = self._rings.get(event.service)
        if ring is None:
            ring = self._rings[event.service] = deque(maxlen=self.capacity)
        ring.append(event)
        if self._bus is not None:
            self._bus.publish(PACKET_TOPIC, event)
        return event

    def events(self, after_id: int = 0, limit: int | None = None, service: str | None = None,
               peer: str | None = None) -> list[PacketEvent]:
        """Events newer than ``after_id``, oldest first, optionally of one service and/or one
        peer (``ip`` or ``ip:port``); with ``limit``, the newest ``limit`` of them."""
        if limit is None:
            return list(self.iter_events(after_id, service, peer))
        newest = list(islice(self.iter_events(after_id, service, peer, newest_first=True), max(limit, 0)))
        newest.reverse()
        return newest

    def iter_events(self, after_id: int = 0, service: str | None = None, peer: str | None = None,
                    newest_first: bool = False) -> Iterator[PacketEvent]:
        """``events()`` one at a time, merged lazily from a snapshot of the rings taken now:
        events recorded meanwhile are not included, evicted ones are still there."""
        rings = self._snapshot(service)
        merged: Iterator[PacketEvent]
        if newest_first:
            merged = heapq.merge(*[reversed(r) for r in rings], key=_BY_ID, reverse=True)
            merged = _until(merged, after_id)
        else:
            # ids grow within a ring: skip what the caller has seen by bisection
            starts = [r[bisect_right(r, after_id, key=_BY_ID):] if after_id else r for r in rings]
            merged = heapq.merge(*starts, key=_BY_ID) if len(starts) > 1 else iter(starts[0] if starts else [])
        if peer is None:
            return merged
        return (e for e in merged if peer_matches(e, peer))

    def _snapshot(self, service: str | None) -> list[list[PacketEvent]]:
        if service:
            ring = self._rings.get(service)
            return [list(ring)] if ring else []
        return [list(ring) for ring in self._rings.values()]

    def __len__(self) -> int:
        return sum(len(r) for r in self._rings.values())


_BY_ID = attrgetter("id")
_new_event = tuple.__new__  # a PacketEvent from its fields' tuple, without NamedTuple's __new__ in Python


def _until(newest_first: Iterator[PacketEvent], after_id: int) -> Iterator[PacketEvent]:
    for event in newest_first:
        if event.id <= after_id:
            return
        yield event


def peer_matches(event: PacketEvent, text: str) -> bool:
    """The one peer filter of the page, the live feed and the exports: ``text`` appears in
    the peer as shown ("10.0.0.7", "10.0.0.7:4000", "[::1]:50000", "::1")."""
    return text in format_address(event.peer)
