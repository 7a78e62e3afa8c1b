"""The packet log: one record per connect, segment, datagram and close, in ring buffers.

Recording sits on every service's hot path, so ``PacketLog.record`` only builds a slotted
record, slices the payload and appends it: no formatting, no I/O. Rendering (hex, JSON,
pcap) happens when somebody looks. Each record is also published on the bus topic
``packet`` so that pages and the log file can follow the log live.

Each service has its own ring of ``capacity`` events (the packet-log budget of
DESIGN.md): a 40 MiB TFTP download is 80,000 packets and would otherwise push every
chat line out of a shared ring. ``events()`` merges the rings back into one timeline.
"""

from __future__ import annotations

import heapq
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .bus import Bus

PACKET_TOPIC = "packet"
PAYLOAD_KEEP = 256

# Services whose events are summarised only when somebody looks (no formatting on the hot
# path): service -> f(first bytes of payload, full length) -> summary.
LAZY_SUMMARIES: dict[str, Callable[[bytes, int], str]] = {}

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PacketEvent:
    id: int
    time_us: int
    service: str
    transport: str  # "tcp" | "udp" | "ws"
    kind: str  # "open" | "data" | "close"
    direction: str  # "in" | "out" (for close: "in" = by the peer, "out" = by us)
    local: Address
    peer: Address
    length: int  # full length; payload keeps only the first PAYLOAD_KEEP bytes
    summary: str
    payload: bytes

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
            "summary": self.summary or self.describe(),
            "payload_hex": self.payload.hex(),
        }

    def describe(self) -> str:
        summarize = LAZY_SUMMARIES.get(self.service)
        return summarize(self.payload, self.length) if summarize is not None and self.kind == "data" else ""

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))


def format_address(addr: Address) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PacketLog:
    def __init__(self, bus: Bus | None = None, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("the packet log keeps at least one event")
        self.capacity = capacity  # per service
        self.recorded = 0
        self._rings: dict[str, deque[PacketEvent]] = {}
        self._bus = bus

    def record(self, service: str, transport: str, kind: str, direction: str,
               local: Address, peer: Address, data: bytes | int = b"", summary: str = "") -> PacketEvent:
        """Record one event; ``data`` is the payload, or just its length when the bytes
        never passed through Python (sendfile)."""
        self.recorded += 1
        if isinstance(data, int):
            length, payload = data, b""
        else:
            length, payload = len(data), bytes(data[:PAYLOAD_KEEP])
        event = PacketEvent(self.recorded, time.time_ns() // 1000, service, transport, kind,
                            direction, (local[0], local[1]), (peer[0], peer[1]), length, summary, payload)
        ring = self._rings.get(service)
        if ring is None:
            ring = self._rings[service] = deque(maxlen=self.capacity)
        ring.append(event)
        if self._bus is not None:
            self._bus.publish(PACKET_TOPIC, event)
        return event

    def events(self, after_id: int = 0, limit: int | None = None, service: str | None = None,
               peer: str | None = None) -> list[PacketEvent]:
        """Events newer than ``after_id``, oldest first, optionally of one service and/or one
        peer (``ip`` or ``ip:port``); with ``limit``, the newest ``limit`` of them."""
        rings: Iterable[deque[PacketEvent]] = (
            [self._rings.get(service, deque())] if service else list(self._rings.values()))
        merged = heapq.merge(*[list(r) for r in rings], key=lambda e: e.id)
        selected = [e for e in merged if e.id > after_id and (peer is None or peer_matches(e, peer))]
        if limit is None:
            return selected
        return selected[len(selected) - limit:] if limit > 0 else []

    def __len__(self) -> int:
        return sum(len(r) for r in self._rings.values())


def peer_matches(event: PacketEvent, text: str) -> bool:
    """The one peer filter of the page, the live feed and the exports: ``text`` appears in
    the peer as shown ("10.0.0.7", "10.0.0.7:4000", "[::1]:50000", "::1")."""
    return text in format_address(event.peer)
