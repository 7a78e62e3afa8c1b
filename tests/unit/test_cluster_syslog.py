"""The syslog ring of every instance (cluster/syslog_share.py): what one instance receives goes
in bounded batches, every other takes it into its SyslogStore marked with its instance."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from sockets_core.bus import Bus
from sockets_core.cluster.syslog_share import SYSLOG_BATCH_TOPIC, ClusterSyslog
from sockets_core.syslog.store import SYSLOG_TOPIC, SyslogStore


def pair(per_second: int = 2_000, capacity: int = 100) -> tuple[ClusterSyslog, ClusterSyslog, Any]:
    """Instance A's sharer and B's; what A publishes on the batch topic is read from ``sent``."""
    bus_a, bus_b = Bus("A"), Bus("B")
    sent = bus_a.subscribe([SYSLOG_BATCH_TOPIC])
    return (ClusterSyslog(bus_a, SyslogStore(capacity, bus_a), per_second),
            ClusterSyslog(bus_b, SyslogStore(capacity, bus_b), per_second), sent)


def batches(sent: Any) -> list[dict[str, Any]]:
    # through JSON, as Redis carries them
    return [json.loads(json.dumps(item)) for _, item in sent.get_batch(timeout=0).items]


def test_another_instances_messages_land_in_the_ring_with_their_instance_and_their_bytes() -> None:
    a, b, sent = pair()
    b.store.add(b"<13>B's own", "10.0.0.9", now=100.0)
    a.store.add(b"<11>switch: fan \xff\xfe failed", "10.0.0.1", now=101.5)
    a.store.add(b"<14>" + b"x" * 20, "10.0.0.2", length=9000, now=102.0)  # cut short where received
    assert a.share_now() == 2 and a.shared == 2
    (batch,) = batches(sent)
    assert batch["instance"] == "A" and batch["left_out"] == 0 and len(batch["messages"]) == 2
    assert b.ingest(batch) == 2 and b.ingested == 2 and b.store.ingested == 2
    here, fan, cut = b.store.query()
    assert here.instance is None and "instance" not in here.to_dict()  # absent: this one's
    assert (fan.instance, fan.sender, fan.time) == ("A", "10.0.0.1", 101.5)
    assert fan.data == b"<11>switch: fan \xff\xfe failed"
    assert fan.to_dict()["instance"] == "A" and fan.to_dict()["severity"] == 3
    assert cut.truncated and cut.length == 9000
    assert [e.id for e in b.store.query(after=here.id)] == [fan.id, cut.id]  # numbered here, growing
    assert b.store.received == 3 and b.store.status()["messages"] == 3


def test_ingested_messages_go_to_the_live_feed_but_are_not_shared_again_nor_ours_taken_twice() -> None:
    _, b, _ = pair()
    feed = b.bus.subscribe([SYSLOG_TOPIC])
    echo = b.bus.subscribe([SYSLOG_BATCH_TOPIC])
    assert b.ingest({"instance": "A", "left_out": 0, "messages": [[1, 5.0, "10.0.0.1", "<13>hi", 6]]}) == 1
    (item,) = [entry for _, entry in feed.get_batch(timeout=0).items]
    assert item.instance == "A" and item.data == b"<13>hi"
    assert b.share_now() == 0 and not echo.get_batch(timeout=0).items
    assert b.ingest({"instance": "B", "messages": [[1, 5.0, "10.0.0.1", "<13>mine", 8]]}) == 0  # back from Redis
    assert len(b.store) == 1


def test_over_the_budget_an_even_sample_goes_and_the_rest_is_counted_and_warned(
        caplog: pytest.LogCaptureFixture) -> None:
    a, b, sent = pair(per_second=100)  # 15 a batch of 0.15 s
    for i in range(60):
        a.store.add(f"<13>m{i}".encode(), "10.0.0.1")
    with caplog.at_level(logging.WARNING):
        assert a.share_now() == 15
    (batch,) = batches(sent)
    assert batch["left_out"] == 45 and a.left_out == 45
    assert [row[3] for row in batch["messages"]][:3] == ["<13>m0", "<13>m4", "<13>m8"]  # spread evenly
    assert "60 syslog messages" in caplog.text and "45 left out" in caplog.text
    assert len(a.store) == 60  # the receiver keeps all of them
    assert b.ingest(batch) == 15


def test_the_ring_stays_bounded_by_its_capacity_with_ingested_messages() -> None:
    _, b, _ = pair(capacity=10)
    rows = [[i, float(i), "10.0.0.1", f"<13>m{i}", 6] for i in range(25)]
    assert b.ingest({"instance": "A", "left_out": 0, "messages": rows}) == 25
    assert len(b.store) == 10 and b.store.evicted == 15
    assert [e.data for e in b.store.query()] == [f"<13>m{i}".encode() for i in range(15, 25)]


def test_a_bad_row_is_skipped_and_warned_the_rest_taken(caplog: pytest.LogCaptureFixture) -> None:
    _, b, _ = pair()
    rows: list[Any] = [[1, 1.0, "10.0.0.1", "<13>ok", 6], "junk", [2, "soon", "h", "x", 1], [3, 1.0, "h", "\u4e2d", 3],
                       [4, 2.0, "10.0.0.1", "<13>ok too", 10]]
    with caplog.at_level(logging.WARNING):
        assert b.ingest({"instance": "A", "messages": rows}) == 2
    assert [e.data for e in b.store.query()] == [b"<13>ok", b"<13>ok too"] and b.store.received == 2
    assert "not one skipped" in caplog.text
    assert b.ingest("not a batch") == 0 and b.ingest({"instance": "A", "messages": "x"}) == 0
