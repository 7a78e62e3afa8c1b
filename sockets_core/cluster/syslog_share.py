"""The syslog ring of every instance (``--bus``): the instance that receives syslog datagrams
shares them, and every other instance takes them into its SyslogStore, each marked with the
instance that received it. With ``--workers N`` only worker 1 binds the syslog port; without
this the Syslog page, /api/syslog and /ws/syslog were complete only when worker 1 answered.

As cluster/packets.py does for packet events (both are cluster/batches.py): one greenlet takes
this instance's new messages from the local bus every BATCH_INTERVAL and publishes ONE item on
SYSLOG_BATCH_TOPIC::

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
from typing import Any

from ..bus import Bus
from ..syslog.store import SYSLOG_TOPIC, SyslogEntry, SyslogStore
from .batches import BATCH_INTERVAL, BatchSharer

log = logging.getLogger(__name__)

SYSLOG_BATCH_TOPIC = "syslog_batches"
PER_SECOND = 2_000  # messages shared a second: 2,000 x 8 KiB at worst is 16 MB/s through Redis




def encode(entry: SyslogEntry) -> list[Any]:
    return [entry.id, entry.time, entry.sender, entry.data.decode("latin-1"), entry.length]


class ClusterSyslog(BatchSharer[SyslogEntry]):
    """Shares this instance's syslog messages and ingests the others' (see the module's doc)."""

    NOUN, ROWS_KEY, ROW_NAME = "syslog", "messages", "syslog message"

    def __init__(self, bus: Bus, store: SyslogStore, per_second: int = PER_SECOND,
                 interval: float = BATCH_INTERVAL) -> None:
        super().__init__(bus, SYSLOG_TOPIC, SYSLOG_BATCH_TOPIC, per_second, interval, log)
        self.store = store

    def own(self, items: list[Any]) -> list[SyslogEntry]:
        # received here: the ingested ones (instance set) come through the same local topic
        return [e for e in items if isinstance(e, SyslogEntry) and e.instance is None]

    def encode(self, item: SyslogEntry) -> list[Any]:
        return encode(item)

    def take(self, row: Any, instance: str) -> None:
        _, when, sender, text, length = row
        self.store.ingest(str(text).encode("latin-1"), str(sender), int(length), float(when), instance)

    def warn_over_budget(self, total: int, shared: int, left_out: int) -> None:
        self._warnings.warn("cluster: %d syslog messages in %.2f s, over %d a second: %d shared with the "
                            "other instances, %d left out (kept here)", total, self.interval, self.per_second,
                            shared, left_out, key="sample")
