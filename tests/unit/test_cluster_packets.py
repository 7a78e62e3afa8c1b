"""The packet log of every instance (cluster/packets.py): one instance's events go in sampled
batches, another takes them into its PacketLog marked with their instance."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from sockets_core.bus import Bus
from sockets_core.cluster.packets import PACKET_BATCH_TOPIC, SHARED_PAYLOAD, ClusterPackets, RemotePacketEvent
from sockets_core.packetlog import PACKET_TOPIC, PacketLog

LOCAL, PEER = ("127.0.0.1", 6969), ("127.0.0.1", 50000)


def pair(per_second: int = 2_000) -> tuple[ClusterPackets, ClusterPackets, Any]:
    """Instance A's sharer and B's; what A publishes on the batch topic is read from ``sent``."""
    bus_a, bus_b = Bus("A"), Bus("B")
    sent = bus_a.subscribe([PACKET_BATCH_TOPIC])
    return (ClusterPackets(bus_a, PacketLog(bus_a), per_second), ClusterPackets(bus_b, PacketLog(bus_b), per_second),
            sent)


def batches(sent: Any) -> list[dict[str, Any]]:
    # through JSON, as Redis carries them
    return [json.loads(json.dumps(item)) for _, item in sent.get_batch(timeout=0).items]


def test_another_instances_events_land_in_the_log_with_their_instance_and_no_direct_message_text() -> None:
    a, b, sent = pair()
    b.packetlog.record("tcp_chat", "tcp", "data", "in", LOCAL, PEER, b"B's own line\n")
    a.packetlog.record("tftp", "udp", "data", "out", LOCAL, PEER, b"\x00\x03\x00\x01" + b"x" * 512)
    a.packetlog.record("tcp_chat", "tcp", "data", "in", LOCAL, PEER, b"/msg bob the secret\n", private=True)
    assert a.share_now() == 2
    (batch,) = batches(sent)
    assert batch["instance"] == "A" and batch["left_out"] == 0 and "secret" not in json.dumps(batch)
    assert b.ingest(batch) == 2 and b.ingested == 2
    here, tftp, dm = b.packetlog.events()
    assert not isinstance(here, RemotePacketEvent) and "instance" not in here.to_dict()  # absent: this one's
    assert isinstance(tftp, RemotePacketEvent) and tftp.instance == "A" and tftp.to_dict()["instance"] == "A"
    assert tftp.length == 516 and tftp.payload == (b"\x00\x03\x00\x01" + b"x" * 512)[:SHARED_PAYLOAD]
    assert (tftp.local, tftp.peer, tftp.service, tftp.direction) == (LOCAL, PEER, "tftp", "out")
    assert dm.private and dm.payload == b"" and dm.summary == "direct message" and dm.length == 20
    assert [e.id for e in b.packetlog.events(after_id=here.id)] == [tftp.id, dm.id]  # numbered here, growing
    assert dm.for_viewer(admin=False).to_dict()["instance"] == "A"  # the viewer's copy keeps whose it is


def test_ingested_events_go_to_the_live_feed_but_are_not_shared_again() -> None:
    _, b, _ = pair()
    feed = b.bus.subscribe([PACKET_TOPIC])
    echo = b.bus.subscribe([PACKET_BATCH_TOPIC])
    b.ingest({"instance": "A", "left_out": 0,
              "events": [[1, "tftp", "udp", "data", "in", list(LOCAL), list(PEER), 9, "RRQ f", "0001", False]]})
    (item,) = [event for _, event in feed.get_batch(timeout=0).items]
    assert item.instance == "A"
    assert b.share_now() == 0 and not echo.get_batch(timeout=0).items
    assert b.ingest({"instance": "B", "events": [[1, "tftp", "udp", "data", "in", list(LOCAL), list(PEER), 9, "",
                                                  "", False]]}) == 0  # its own, back from Redis


def test_past_the_rate_a_spread_sample_goes_and_says_how_many_were_left_out(caplog: Any) -> None:
    a, _, sent = pair(per_second=100)  # 15 events a batch of 0.15 s
    for block in range(1, 1001):
        a.packetlog.record("tftp", "udp", "data", "out", LOCAL, PEER, block.to_bytes(2, "big"))
    with caplog.at_level(logging.WARNING):
        assert a.share_now() == 15
        a.packetlog.record("tftp", "udp", "data", "out", LOCAL, PEER, b"\x00\x00")
        assert a.share_now() == 1
    first, second = batches(sent)
    assert first["left_out"] == 985 and second["left_out"] == 0 and a.left_out == 985
    blocks = [int(row[9], 16) for row in first["events"]]
    assert blocks[0] == 1 and blocks[-1] > 900 and blocks == sorted(blocks)  # spread over the whole second
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "--bus-packets-per-second 100" in warnings[0] and "985 left out" in warnings[0]


@pytest.mark.parametrize("rows", [[["too", "short"]], [[1, "tftp", "udp", "data", "in", "nope", [1], 1, "", "zz",
                                                        False]], "not a list", [None]])
def test_a_bad_batch_is_skipped_row_by_row_and_never_raises(rows: Any) -> None:
    _, b, _ = pair()
    good = [1, "tftp", "udp", "data", "in", list(LOCAL), list(PEER), 9, "", "", False]
    taken = b.ingest({"instance": "A", "events": [*rows, good] if isinstance(rows, list) else rows})
    assert taken == (1 if isinstance(rows, list) else 0) and len(b.packetlog) == taken
    assert b.ingest("not a batch") == 0 and b.ingest({"events": [good]}) == 0
