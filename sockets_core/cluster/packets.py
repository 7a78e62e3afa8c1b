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
import math
from typing import Any

import gevent

from ..addresses import Address
from ..bus import Bus
from ..logthrottle import ThrottledWarning
from ..packetlog import PACKET_TOPIC, PacketEvent, PacketLog
from .loops import spawn_forever

log = logging.getLogger(__name__)

PACKET_BATCH_TOPIC = "packet_batches"
BATCH_INTERVAL = 0.15  # seconds between two batches of one instance
DEFAULT_PER_SECOND = 2_000  # --bus-packets-per-second
SHARED_PAYLOAD = 64  # bytes of a payload shared: a header for the page's decoders, not the file
LOCAL_QUEUE = 20_000  # this instance's events waiting for the next batch (past it: left out)
BATCH_QUEUE = 1_000  # other instances' batches waiting to be ingested


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


def sample(events: list[PacketEvent], budget: int) -> list[PacketEvent]:
    """At most ``budget`` of ``events``, spread evenly over them (in order)."""
    if len(events) <= budget:
        return events
    step = len(events) / budget
    return [events[math.floor(i * step)] for i in range(budget)]


class ClusterPackets:
    """Shares this instance's packet events and ingests the others' (see the module's doc)."""

    def __init__(self, bus: Bus, packetlog: PacketLog, per_second: int = DEFAULT_PER_SECOND,
                 interval: float = BATCH_INTERVAL) -> None:
        if per_second < 1:
            raise ValueError("--bus-packets-per-second is at least 1")
        self.bus = bus
        self.packetlog = packetlog
        self.per_second = per_second
        self.interval = interval
        self.budget = max(1, round(per_second * interval))  # events per batch
        self.shared = 0  # this instance's events sent
        self.left_out = 0  # this instance's events not sent (over the budget)
        self.ingested = 0  # other instances' events taken into the log
        self._local = bus.subscribe([PACKET_TOPIC], limit=LOCAL_QUEUE, name="packets shared with the cluster")
        self._batches = bus.subscribe([PACKET_BATCH_TOPIC], limit=BATCH_QUEUE, name="packets of other instances")
        self._warnings = ThrottledWarning(log)
        self._greenlets: list[gevent.Greenlet[Any, Any]] = []

    def start(self) -> None:
        self._greenlets = [spawn_forever("packet sharing", self._share_loop, lambda: not self._local.closed),
                           spawn_forever("packet ingest", self._ingest_loop, lambda: not self._batches.closed)]

    def stop(self) -> None:
        self._local.close()
        self._batches.close()
        gevent.killall(self._greenlets, block=False)

    # -- this instance's events -------------------------------------------------------------
    def _share_loop(self) -> None:
        while not self._local.closed:
            gevent.sleep(self.interval)
            self.share_now()

    def share_now(self) -> int:
        """Publish one batch of what was recorded since the last (if anything); events sent."""
        batch = self._local.get_batch(timeout=0)
        # exactly PacketEvent: this instance's (the others' are RemotePacketEvent); a class test,
        # not isinstance: a storm puts LOCAL_QUEUE events here every interval
        own = [e for _, e in batch.items if e.__class__ is PacketEvent]
        chosen = sample(own, self.budget)
        left_out = len(own) - len(chosen) + batch.dropped
        if left_out:
            self.left_out += left_out
            self._warnings.warn("cluster: %d packet events in %.2f s, over --bus-packets-per-second %d: "
                                "%d shared, %d left out", len(own) + batch.dropped, self.interval, self.per_second,
                                len(chosen), left_out, key="sample")
        if not chosen:
            return 0
        self.bus.publish(PACKET_BATCH_TOPIC, {"instance": self.bus.instance, "left_out": left_out,
                                              "events": [encode(e) for e in chosen]})
        self.shared += len(chosen)
        return len(chosen)

    # -- the other instances' ---------------------------------------------------------------
    def _ingest_loop(self) -> None:
        while not self._batches.closed:  # close() wakes the wait
            for _, item in self._batches.get_batch(timeout=None).items:
                self.ingest(item)
                gevent.sleep(0)  # a burst of batches must not hold up the services

    def ingest(self, item: Any) -> int:
        """Take one batch of another instance into the packet log; events taken."""
        if not isinstance(item, dict) or item.get("instance") in (None, self.bus.instance):
            return 0  # ours (back from Redis), or not a batch
        instance, taken = str(item["instance"]), 0
        rows = item.get("events")
        for row in rows if isinstance(rows, list) else ():
            try:
                event = decode(row, instance)
            except (ValueError, TypeError, IndexError):
                self._warnings.warn("cluster: a packet event of %s that is not one skipped: %.80r", instance, row,
                                    key="bad:" + instance)
                continue
            self.packetlog.ingest(event)
            taken += 1
        self.ingested += taken
        return taken
