"""The packet log of every instance (``--bus``): each instance shares a sample of its own
packet events, and takes the others' into its PacketLog, each marked with its instance.

A packet event is made for every datagram (a TFTP download: tens of thousands a second) and
one Redis item costs ~30 µs, so events are never published one by one. One greenlet takes
this instance's events from the local bus every BATCH_INTERVAL and publishes ONE item on the
cluster topic PACKET_BATCH_TOPIC::

    {"instance": "A", "left_out": 0, "events": [[time_us, service, transport, kind, direction,
      [local host, port], [peer host, port], length, summary, payload_hex, private], ...]}

- At most ``--bus-packets-per-second`` events a second are shared (per batch: that times the
  interval). Past it an evenly spread sample goes, the batch says how many were left out
  (``left_out``, also counted in ``ClusterPackets.left_out``) and a WARNING says so, throttled.
- What goes is what a viewer without the admin token may see (PacketEvent.for_viewer): a
  direct message is its length and "direct message", never its text. Of a payload, the first
  SHARED_PAYLOAD bytes go (enough for the page's decoders of a header); the length stays true.
- Every instance reads the batches (its own come back from Redis and are skipped) and gives
  each event to ``PacketLog.ingest`` as a RemotePacketEvent: a PacketEvent that carries
  ``instance`` (in its dict, its JSON, the Packet log page's instance column). Events of
  this instance carry none: absent means "here".
"""

from __future__ import annotations

import logging
from typing import Any

from ..addresses import Address
from ..bus import Bus
from ..packetlog import PACKET_TOPIC, PacketEvent, PacketLog
from .batches import BATCH_INTERVAL, BatchSharer

log = logging.getLogger(__name__)

PACKET_BATCH_TOPIC = "packet_batches"
DEFAULT_PER_SECOND = 2_000  # --bus-packets-per-second
SHARED_PAYLOAD = 64  # bytes of a payload shared: a header for the page's decoders, not the file


class RemotePacketEvent(PacketEvent):
    """Another instance's event: a PacketEvent that says whose it is. (A subclass without
    ``__slots__``: ``instance`` lives in its ``__dict__``, the tuple's fields stay the log's.)"""

    instance: str

    def _replace(self, **changes: Any) -> RemotePacketEvent:
        copy = super()._replace(**changes)
        copy.instance = self.instance
        return copy

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "instance": self.instance}


def encode(event: PacketEvent) -> list[Any]:
    """One event as it goes in a batch (what any viewer may see of it)."""
    shown = event.for_viewer(admin=False)
    return [shown.time_us, shown.service, shown.transport, shown.kind, shown.direction,
            list(shown.local[:2]), list(shown.peer[:2]), shown.length, shown.summary or shown.describe(),
            shown.payload[:SHARED_PAYLOAD].hex(), shown.private]


def decode(row: Any, instance: str) -> RemotePacketEvent:
    """A batch's row as an event of ``instance`` (ValueError, TypeError or IndexError if it is not one)."""
    time_us, service, transport, kind, direction, local, peer, length, summary, payload_hex, private = row
    fields = (0, int(time_us), str(service), str(transport), str(kind), str(direction),
              _address(local), _address(peer), int(length), str(summary), bytes.fromhex(payload_hex), bool(private))
    event = RemotePacketEvent(*fields)
    event.instance = instance
    return event


def _address(value: Any) -> Address:
    host, port = value
    return str(host), int(port)



class ClusterPackets(BatchSharer[PacketEvent]):
    """Shares this instance's packet events and ingests the others' (see the module's doc)."""

    NOUN, ROWS_KEY, ROW_NAME = "packet", "events", "packet event"

    def __init__(self, bus: Bus, packetlog: PacketLog, per_second: int = DEFAULT_PER_SECOND,
                 interval: float = BATCH_INTERVAL) -> None:
        if per_second < 1:
            raise ValueError("--bus-packets-per-second is at least 1")
        super().__init__(bus, PACKET_TOPIC, PACKET_BATCH_TOPIC, per_second, interval, log)
        self.packetlog = packetlog

    def own(self, items: list[Any]) -> list[PacketEvent]:
        # exactly PacketEvent: this instance's (the others' are RemotePacketEvent); a class test,
        # not isinstance: a storm puts LOCAL_QUEUE events here every interval
        return [e for e in items if e.__class__ is PacketEvent]

    def encode(self, item: PacketEvent) -> list[Any]:
        return encode(item)

    def take(self, row: Any, instance: str) -> None:
        self.packetlog.ingest(decode(row, instance))

    def warn_over_budget(self, total: int, shared: int, left_out: int) -> None:
        self._warnings.warn("cluster: %d packet events in %.2f s, over --bus-packets-per-second %d: "
                            "%d shared, %d left out", total, self.interval, self.per_second, shared, left_out,
                            key="sample")
