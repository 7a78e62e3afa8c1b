"""The packet log: one record per connect, segment, datagram and close, in a ring buffer.

Recording sits on every service's hot path, so ``PacketLog.record`` only builds a slotted
record, slices the payload and appends it: no formatting, no I/O. Rendering (hex, JSON)
happens when somebody looks. Each record is also published on the bus topic ``packet``
so that pages can follow the log live.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .bus import Bus

PACKET_TOPIC = "packet"
PAYLOAD_KEEP = 256

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
            "summary": self.summary,
            "payload_hex": self.payload.hex(),
        }


def format_address(addr: Address) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PacketLog:
    def __init__(self, bus: Bus | None = None, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("the packet log keeps at least one event")
        self.capacity = capacity
        self.recorded = 0
        self._ring: deque[PacketEvent] = deque(maxlen=capacity)
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
        self._ring.append(event)
        if self._bus is not None:
            self._bus.publish(PACKET_TOPIC, event)
        return event

    def events(self, after_id: int = 0, limit: int | None = None) -> list[PacketEvent]:
        """Events newer than ``after_id``, oldest first; with ``limit``, the newest ``limit`` of them."""
        selected = [e for e in self._ring if e.id > after_id]
        return selected[-limit:] if limit is not None else selected

    def __len__(self) -> int:
        return len(self._ring)
