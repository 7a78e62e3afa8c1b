"""One way to share a high-rate local feed with the other instances (``--bus``): sampled
batches on a cluster topic, and the others' batches taken in. cluster/packets.py (the packet
log) and cluster/syslog_share.py (the syslog ring) are this with their own rows.

One Redis item costs ~30 µs, so items are never published one by one: one greenlet takes this
instance's new items from the local bus every ``interval`` and publishes ONE dict
``{"instance", "left_out", ROWS_KEY: [row, ...]}``. At most ``per_second`` items a second go
(per batch: that times the interval); past it an evenly spread sample goes, the batch says how
many were left out (also counted in ``left_out``) and a WARNING says so, throttled. Another
greenlet reads every instance's batches (its own come back from Redis and are skipped) and
takes each row in; a row that is not one is skipped with a throttled WARNING.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Generic, TypeVar

import gevent

from ..bus import Bus
from ..logthrottle import ThrottledWarning
from .loops import spawn_forever

T = TypeVar("T")

BATCH_INTERVAL = 0.15  # seconds between two batches of one instance
LOCAL_QUEUE = 20_000  # this instance's items waiting for the next batch (past it: left out)
BATCH_QUEUE = 1_000  # other instances' batches waiting to be taken in


def sample(items: list[T], budget: int) -> list[T]:
    """At most ``budget`` of ``items``, spread evenly over them (in order)."""
    if len(items) <= budget:
        return items
    step = len(items) / budget
    return [items[math.floor(i * step)] for i in range(budget)]


class BatchSharer(Generic[T]):
    """Subclasses say which local items are this instance's own (``own``), how one goes in a
    batch (``encode``), how a row is taken in (``take``, raising ValueError, TypeError or
    IndexError for a row that is not one), and what the over-budget WARNING says."""

    NOUN = "item"  # "packet" -> the greenlets "packet sharing" / "packet ingest"
    ROWS_KEY = "items"
    ROW_NAME = "row"  # in the bad-row WARNING: "packet event", "syslog message"

    def __init__(self, bus: Bus, local_topic: str, batch_topic: str, per_second: int, interval: float,
                 log: logging.Logger) -> None:
        self.bus = bus
        self.batch_topic = batch_topic
        self.per_second = per_second
        self.interval = interval
        self.budget = max(1, round(per_second * interval))  # items per batch
        self.shared = 0  # this instance's items sent
        self.left_out = 0  # this instance's items not sent (over the budget)
        self.ingested = 0  # other instances' items taken in
        self._local = bus.subscribe([local_topic], limit=LOCAL_QUEUE, name=f"{self.NOUN}s shared with the cluster")
        self._batches = bus.subscribe([batch_topic], limit=BATCH_QUEUE, name=f"{self.NOUN}s of other instances")
        self._warnings = ThrottledWarning(log)
        self._greenlets: list[gevent.Greenlet[Any, Any]] = []

    # -- what a subclass says ------------------------------------------------------------------
    def own(self, items: list[Any]) -> list[T]:
        raise NotImplementedError

    def encode(self, item: T) -> list[Any]:
        raise NotImplementedError

    def take(self, row: Any, instance: str) -> None:
        raise NotImplementedError

    def warn_over_budget(self, total: int, shared: int, left_out: int) -> None:
        raise NotImplementedError

    # -- the loops -----------------------------------------------------------------------------
    def start(self) -> None:
        self._greenlets = [spawn_forever(f"{self.NOUN} sharing", self._share_loop, lambda: not self._local.closed),
                           spawn_forever(f"{self.NOUN} ingest", self._ingest_loop, lambda: not self._batches.closed)]

    def stop(self) -> None:
        self._local.close()
        self._batches.close()
        gevent.killall(self._greenlets, block=False)

    def _share_loop(self) -> None:
        while not self._local.closed:
            gevent.sleep(self.interval)
            self.share_now()

    def share_now(self) -> int:
        """Publish one batch of what came since the last (if anything); items sent."""
        batch = self._local.get_batch(timeout=0)
        own = self.own([item for _, item in batch.items])
        chosen = sample(own, self.budget)
        left_out = len(own) - len(chosen) + batch.dropped
        if left_out:
            self.left_out += left_out
            self.warn_over_budget(len(own) + batch.dropped, len(chosen), left_out)
        if not chosen:
            return 0
        self.bus.publish(self.batch_topic, {"instance": self.bus.instance, "left_out": left_out,
                                            self.ROWS_KEY: [self.encode(e) for e in chosen]})
        self.shared += len(chosen)
        return len(chosen)

    def _ingest_loop(self) -> None:
        while not self._batches.closed:  # close() wakes the wait
            for _, item in self._batches.get_batch(timeout=None).items:
                self.ingest(item)
                gevent.sleep(0)  # a burst of batches must not hold up the services

    def ingest(self, item: Any) -> int:
        """Take one batch of another instance in; items taken."""
        if not isinstance(item, dict) or item.get("instance") in (None, self.bus.instance):
            return 0  # ours (back from Redis), or not a batch
        instance, taken = str(item["instance"]), 0
        rows = item.get(self.ROWS_KEY)
        for row in rows if isinstance(rows, list) else ():
            try:
                self.take(row, instance)
            except (ValueError, TypeError, IndexError):  # UnicodeEncodeError is a ValueError
                self._warnings.warn("cluster: a %s of %s that is not one skipped: %.80r", self.ROW_NAME, instance,
                                    row, key="bad:" + instance)
                continue
            taken += 1
        self.ingested += taken
        return taken

