from sockets_core.bus import Bus
from sockets_core.packetlog import PACKET_TOPIC, PAYLOAD_KEEP, PacketLog
from sockets_core.traffic import ServiceTap

LOCAL = ("127.0.0.1", 8888)
PEER = ("127.0.0.1", 50000)


def test_record_keeps_full_length_but_only_first_bytes_of_payload() -> None:
    log = PacketLog()
    event = log.record("tcp_chat", "tcp", "data", "in", LOCAL, PEER, b"x" * 1000, "hi")
    assert event.length == 1000
    assert event.payload == b"x" * PAYLOAD_KEEP
    as_dict = event.to_dict()
    assert as_dict["peer"] == "127.0.0.1:50000"
    assert as_dict["payload_hex"] == "78" * PAYLOAD_KEEP
    assert as_dict["summary"] == "hi"


def test_ring_buffer_keeps_the_newest_events_with_increasing_ids() -> None:
    log = PacketLog(capacity=10)
    for i in range(25):
        log.record("udp_chat", "udp", "data", "in", LOCAL, PEER, bytes([i]))
    events = log.events()
    assert len(log) == 10 and log.recorded == 25
    assert [e.id for e in events] == list(range(16, 26))
    assert [e.id for e in log.events(after_id=20)] == [21, 22, 23, 24, 25]
    assert [e.id for e in log.events(limit=3)] == [23, 24, 25]


def test_length_only_event_for_bytes_that_never_passed_through_python() -> None:
    event = PacketLog().record("file", "tcp", "data", "out", LOCAL, PEER, 1 << 20, "sendfile")
    assert event.length == 1 << 20 and event.payload == b""


def test_events_are_published_on_the_bus() -> None:
    bus = Bus()
    sub = bus.subscribe([PACKET_TOPIC])
    PacketLog(bus).record("tftp", "udp", "data", "out", LOCAL, PEER, b"\x00\x03\x00\x01")
    items = sub.get_batch(timeout=0).items
    assert len(items) == 1 and items[0][1].service == "tftp"


def test_ipv6_addresses_are_bracketed() -> None:
    event = PacketLog().record("tftp", "udp", "data", "in", ("::1", 69), ("::1", 4000))
    assert event.to_dict()["local"] == "[::1]:69"


def test_service_tap_counts_and_logs_every_event() -> None:
    log = PacketLog()
    tap = ServiceTap("tcp_chat", "tcp", log)
    tap.opened(LOCAL, PEER)
    tap.received(LOCAL, PEER, b"hello")
    tap.sent(LOCAL, PEER, b"hi!")
    tap.sent(LOCAL, PEER, 100)
    assert tap.counters.as_dict() == {"clients": 1, "bytes_in": 5, "bytes_out": 103,
                                      "packets_in": 1, "packets_out": 2}
    tap.closed(LOCAL, PEER, "peer")
    assert tap.counters.clients == 0
    kinds = [(e.kind, e.direction, e.summary) for e in log.events()]
    assert kinds[0] == ("open", "in", "TCP connect")
    assert kinds[-1] == ("close", "in", "TCP close by peer")


def test_a_private_event_shows_only_its_length_to_a_viewer_without_the_token() -> None:
    log = PacketLog()
    tap = ServiceTap("tcp_chat", "tcp", log)
    tap.received(LOCAL, PEER, b"/msg bob the secret\n", private=True)
    tap.sent(LOCAL, PEER, b"public\n")
    private, public = log.events()
    assert private.private and not public.private
    hidden = private.for_viewer(admin=False)
    assert hidden.payload == b"" and hidden.summary == "direct message" and hidden.length == 20
    assert hidden.to_dict()["payload_hex"] == "" and hidden.to_dict()["private"] is True
    assert private.for_viewer(admin=True) is private and public.for_viewer(admin=False) is public


def test_iter_events_is_lazy_over_a_snapshot_and_matches_events() -> None:
    log = PacketLog(capacity=50)
    for i in range(120):
        log.record(("tftp", "udp_chat", "tcp_chat")[i % 3], "udp", "data", "in", LOCAL,
                   (PEER[0], 50000 + i % 2), bytes([i]))
    walk = log.iter_events()
    first = next(walk)
    log.record("tftp", "udp", "data", "in", LOCAL, PEER, b"later")  # not in the snapshot
    rest = list(walk)
    ids = [first.id] + [e.id for e in rest]
    assert ids == sorted(ids) and len(ids) == 120 and 121 not in ids
    assert [e.id for e in log.events(after_id=100)] == list(range(101, 122))
    assert [e.id for e in log.events(limit=5, peer="127.0.0.1:50001")] == [112, 114, 116, 118, 120]
    assert [e.id for e in log.events(after_id=118, limit=10)] == [119, 120, 121]
    assert [e.id for e in log.iter_events(service="tftp", newest_first=True)][:3] == [121, 118, 115]
