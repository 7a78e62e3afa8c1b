"""The syslog ring of every instance (``--bus``): the instance that receives syslog datagrams
shares them, and every other instance takes them into its SyslogStore, each marked with the
instance that received it. With ``--workers N`` only worker 1 binds the syslog port; without
this the Syslog page, /api/syslog and /ws/syslog were complete only when worker 1 answered.

As cluster/packets.py does for packet events: one greenlet takes this instance's new messages
from the local bus every BATCH_INTERVAL and publishes ONE item on SYSLOG_BATCH_TOPIC::

    {"instance": "A", "left_out": 0, "messages": [[id, time, sender, text, length], ...]}

- ``text`` is the datagram (at most MAX_MESSAGE bytes) as latin-1: every byte one character,
  so any datagram goes through JSON and comes back the very bytes; ``length`` as received.
- At most PER_SECOND messages a second are shared (per batch: that times the interval). Past
  it an evenly spread sample goes, the batch says how many were left out (``left_out``, also
  counted in ``ClusterSyslog.left_out``) and a WARNING says so, throttled. The receiving
  instance keeps every message (its ring, --syslog-file).
- Every instance reads the batches (its own come back from Redis and are skipped) and gives
  each message to ``SyslogStore.ingest``: numbered there, bounded by its ring (--syslog-max),
  and its ``instance`` in its dict (absent means "here").
"""

from __future__ import annotations

import logging
import math
from typing import Any, TypeVar

import gevent

from ..bus import Bus
from ..logthrottle import ThrottledWarning
from ..syslog.store import SYSLOG_TOPIC, SyslogEntry, SyslogStore
from .loops import spawn_forever

log = logging.getLogger(__name__)

SYSLOG_BATCH_TOPIC = "syslog_batches"
BATCH_INTERVAL = 0.15  # seconds between two batches of one instance
PER_SECOND = 2_000  # messages shared a second: 2,000 x 8 KiB at worst is 16 MB/s through Redis
LOCAL_QUEUE = 20_000  # this instance's messages waiting for the next batch (past it: left out)
BATCH_QUEUE = 1_000  # other instances' batches waiting to be ingested


T = TypeVar("T")


def sample(items: list[T], budget: int) -> list[T]:
    """At most ``budget`` of ``items``, spread evenly over them (in order); packets.sample's
    way, for any item (that one is typed for packet events)."""
    if len(items) <= budget:
        return items
    step = len(items) / budget
    return [items[math.floor(i * step)] for i in range(budget)]


def encode(entry: SyslogEntry) -> list[Any]:
    return [entry.id, entry.time, entry.sender, entry.data.decode("latin-1"), entry.length]


class ClusterSyslog:
    """Shares this instance's syslog messages and ingests the others' (see the module's doc)."""

    def __init__(self, bus: Bus, store: SyslogStore, per_second: int = PER_SECOND,
                 interval: float = BATCH_INTERVAL) -> None:
        self.bus = bus
        self.store = store
        self.per_second = per_second
        self.interval = interval
        self.budget = max(1, round(per_second * interval))  # messages per batch
        self.shared = 0
        self.left_out = 0
        self.ingested = 0
        self._local = bus.subscribe([SYSLOG_TOPIC], limit=LOCAL_QUEUE, name="syslog shared with the cluster")
        self._batches = bus.subscribe([SYSLOG_BATCH_TOPIC], limit=BATCH_QUEUE, name="syslog of other instances")
        self._warnings = ThrottledWarning(log)
        self._greenlets: list[gevent.Greenlet[Any, Any]] = []

    def start(self) -> None:
        self._greenlets = [spawn_forever("syslog sharing", self._share_loop, lambda: not self._local.closed),
                           spawn_forever("syslog ingest", self._ingest_loop, lambda: not self._batches.closed)]

    def stop(self) -> None:
        self._local.close()
        self._batches.close()
        gevent.killall(self._greenlets, block=False)

    # -- this instance's messages -----------------------------------------------------------
    def _share_loop(self) -> None:
        while not self._local.closed:
            gevent.sleep(self.interval)
            self.share_now()

    def share_now(self) -> int:
        """Publish one batch of what was received since the last (if anything); messages sent."""
        batch = self._local.get_batch(timeout=0)
        # received here: the ingested ones (instance set) come through the same local topic
        own = [e for _, e in batch.items if isinstance(e, SyslogEntry) and e.instance is None]
        chosen = sample(own, self.budget)
        left_out = len(own) - len(chosen) + batch.dropped
        if left_out:
            self.left_out += left_out
            self._warnings.warn("cluster: %d syslog messages in %.2f s, over %d a second: %d shared with the "
                                "other instances, %d left out (kept here)", len(own) + batch.dropped,
                                self.interval, self.per_second, len(chosen), left_out, key="sample")
        if not chosen:
            return 0
        self.bus.publish(SYSLOG_BATCH_TOPIC, {"instance": self.bus.instance, "left_out": left_out,
                                              "messages": [encode(e) for e in chosen]})
        self.shared += len(chosen)
        return len(chosen)

    # -- the other instances' ---------------------------------------------------------------
    def _ingest_loop(self) -> None:
        while not self._batches.closed:  # close() wakes the wait
            for _, item in self._batches.get_batch(timeout=None).items:
                self.ingest(item)
                gevent.sleep(0)  # a burst of batches must not hold up the services

    def ingest(self, item: Any) -> int:
        """Take one batch of another instance into the syslog ring; messages taken."""
        if not isinstance(item, dict) or item.get("instance") in (None, self.bus.instance):
            return 0  # ours (back from Redis), or not a batch
        instance, taken = str(item["instance"]), 0
        rows = item.get("messages")
        for row in rows if isinstance(rows, list) else ():
            try:
                _, when, sender, text, length = row
                data = str(text).encode("latin-1")
                self.store.ingest(data, str(sender), int(length), float(when), instance)
            except (ValueError, TypeError):  # UnicodeEncodeError is a ValueError
                self._warnings.warn("cluster: a syslog message of %s that is not one skipped: %.80r", instance,
                                    row, key="bad:" + instance)
                continue
            taken += 1
        self.ingested += taken
        return taken
