"""RedisBus against a real redis-server (tests/redis_server.py): delivery across instances in one
order, the stream bound, cooperative blocking, and an outage (nothing lost locally, nothing twice)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from sockets_core.redis_bus import BusUnavailable, RedisBus, redact_url, stream_key
from tests.harness import wait_for
from tests.redis_server import RedisServer, redis_server, redis_unix_server  # noqa: F401  (fixtures)

TOPICS = ("chat", "transfers")


def gwait(predicate: Any, timeout: float = 5.0, what: str = "condition") -> Any:
    return wait_for(predicate, timeout, what, sleep=gevent.sleep)


@pytest.fixture
def buses(redis_server: RedisServer) -> Iterator[tuple[RedisBus, RedisBus]]:  # noqa: F811
    a = RedisBus(redis_server.url, TOPICS, instance="A")
    b = RedisBus(redis_server.url, TOPICS, instance="B")
    a.start()
    b.start()
    yield a, b
    a.close()
    b.close()


def drain(sub: Any) -> list[tuple[str, Any]]:
    """What ``sub`` holds now, items without their "instance" (tests of it look at it)."""
    return [(topic, {k: v for k, v in item.items() if k != "instance"}) for topic, item in sub.get_batch(0).items]


def test_cluster_items_carry_their_instance_and_others_stay_local(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    sub = b.subscribe(["chat", "transfers"])
    a.publish("transfers", None)  # not a cluster item (no dict): a local wake-up
    a.publish("chat", {"n": 1})
    a.publish("chat", {"n": 2, "instance": "X"})
    gwait(lambda: sub.pending() >= 2, what="two items on B")
    assert [item for _, item in sub.get_batch(0).items] == [{"n": 1, "instance": "A"}, {"n": 2, "instance": "X"}]


def test_cluster_items_reach_every_instance_once_in_one_order(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    sub_a, sub_b = a.subscribe(["chat"]), b.subscribe(["chat"])
    got_a: list[tuple[str, Any]] = []
    got_b: list[tuple[str, Any]] = []
    for n in range(20):
        (a if n % 2 else b).publish("chat", {"instance": "A" if n % 2 else "B", "n": n})

    def all_in() -> bool:
        got_a.extend(drain(sub_a))
        got_b.extend(drain(sub_b))
        return len(got_a) >= 20 and len(got_b) >= 20
    gwait(all_in, what="20 items on both instances")
    gevent.sleep(0.2)  # anything more would be a duplicate: give it the time to show
    got_a.extend(drain(sub_a))
    got_b.extend(drain(sub_b))
    assert len(got_a) == len(got_b) == 20
    assert got_a == got_b  # the stream's one order, on both
    assert sorted(item["n"] for _, item in got_a) == list(range(20))


def test_local_topics_stay_local(buses: tuple[RedisBus, RedisBus], redis_server: RedisServer) -> None:  # noqa: F811
    a, b = buses
    sub_a, sub_b = a.subscribe(["status"]), b.subscribe(["status", "chat"])
    a.publish("status", {"x": 1})
    assert drain(sub_a) == [("status", {"x": 1})]  # at once, not through Redis
    a.publish("chat", {"marker": True})
    gwait(lambda: sub_b.pending(), what="the chat item on B")
    assert drain(sub_b) == [("chat", {"marker": True})]
    assert redis_server.client().xlen(stream_key("status")) == 0


def test_a_blocked_read_yields_to_the_other_greenlets(buses: tuple[RedisBus, RedisBus]) -> None:
    # both readers sit in XREAD BLOCK 1000 ms now; with blocking sockets the hub would stall
    ticks = 0

    def tick() -> None:
        nonlocal ticks
        for _ in range(50):
            gevent.sleep(0.01)
            ticks += 1
    ticker = gevent.spawn(tick)
    ticker.join(timeout=3)
    assert ticks == 50


def test_streams_are_bounded(redis_server: RedisServer) -> None:  # noqa: F811
    bus = RedisBus(redis_server.url, TOPICS, instance="A", stream_max=100)
    bus.start()
    try:
        sub = bus.subscribe(["chat"], limit=5_000)
        for n in range(1_000):
            bus.publish("chat", {"n": n})
            if n % 100 == 99:
                gevent.sleep(0)  # let the writer run, as a real publisher would
        newest = ("chat", {"n": 999})
        gwait(lambda: newest in drain(sub), what="the last item read back")
        length = redis_server.client().xlen(stream_key("chat"))
        # MAXLEN ~ trims whole nodes (100 entries by default): at most one node over the bound
        assert 100 <= length <= 200
    finally:
        bus.close()


def test_a_full_outgoing_queue_drops_the_oldest_and_counts(redis_server: RedisServer) -> None:  # noqa: F811
    bus = RedisBus(redis_server.url, TOPICS, instance="A", out_queue=10)
    bus.start()
    try:
        sub = bus.subscribe(["chat"])
        for n in range(25):  # no yield in between: the writer cannot drain
            bus.publish("chat", {"n": n})
        assert bus.dropped_total() == 15
        gwait(lambda: sub.pending() == 10, what="the 10 newest")
        assert [item["n"] for _, item in drain(sub)] == list(range(15, 25))
    finally:
        bus.close()


def test_outage_serves_locally_then_resumes_without_duplicates(redis_server: RedisServer,  # noqa: F811
                                                                buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    sub_a, sub_b = a.subscribe(["chat"]), b.subscribe(["chat"])
    a.publish("chat", {"n": "before"})
    gwait(lambda: sub_b.pending() == 1, what="the first item on B")
    assert a.state() == b.state() == "connected"

    redis_server.stop()
    gwait(lambda: a.state() == "reconnecting" and b.state() == "reconnecting", what="both reconnecting")
    a.publish("chat", {"n": "during"})  # delivered on A at once, never sent later
    assert drain(sub_a)[-1] == ("chat", {"n": "during"})

    redis_server.start()
    gwait(lambda: a.state() == b.state() == "connected", timeout=5, what="both connected again within 5 s")
    a.publish("chat", {"n": "after"})
    b.publish("chat", {"n": "after-b"})
    gwait(lambda: sub_a.pending() >= 2 and sub_b.pending() >= 3, what="the items after the outage")
    gevent.sleep(0.3)
    on_a = [item["n"] for _, item in drain(sub_a)]
    on_b = [item["n"] for _, item in drain(sub_b)]
    assert sorted(on_a) == ["after", "after-b"]  # "during" stayed on A and came back from nowhere
    assert on_b == ["before", *on_a]  # never "during"; the two writers' race decided one order for both


def test_an_item_delivered_locally_after_a_failed_write_is_not_delivered_again(
        buses: tuple[RedisBus, RedisBus], redis_server: RedisServer) -> None:  # noqa: F811
    a, _ = buses
    sub = a.subscribe(["chat"])
    # what _write_loop does when a pipeline fails half-way: deliver here, remember the number
    a._deliver_outgoing_locally([("chat", '{"n": 1}', 4242)])
    assert drain(sub) == [("chat", {"n": 1})]
    # the XADD had landed after all: the reader sees it and skips it
    redis_server.client().xadd(stream_key("chat"), {"d": '{"n": 1}', "i": "A", "s": 4242})
    redis_server.client().xadd(stream_key("chat"), {"d": '{"n": 2}', "i": "A", "s": 4243})
    gwait(lambda: sub.pending(), what="the next item")
    assert drain(sub) == [("chat", {"n": 2})]


def test_unix_socket_url(redis_unix_server: RedisServer) -> None:  # noqa: F811
    a = RedisBus(redis_unix_server.url, TOPICS, instance="A")
    a.start()
    try:
        sub = a.subscribe(["chat"])
        a.publish("chat", {"via": "unix"})
        gwait(lambda: sub.pending(), what="the item through the unix socket")
        assert drain(sub) == [("chat", {"via": "unix"})]
    finally:
        a.close()


def test_unreachable_redis_at_start_is_a_clear_error(tmp_path: Any) -> None:
    from tests.redis_server import free_tcp_port

    bus = RedisBus(f"redis://:secret@127.0.0.1:{free_tcp_port()}/0", TOPICS)
    with pytest.raises(BusUnavailable, match=r"cannot reach Redis at redis://:\*\*\*@127\.0\.0\.1"):
        bus.start(timeout=2)
    bus.close()


def test_redact_url() -> None:
    assert redact_url("redis://user:pw@h:6379/1") == "redis://user:***@h:6379/1"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    assert redact_url("unix:///run/r.sock?db=2") == "unix:///run/r.sock?db=2"
    # redis-py takes the password from the query too: it never shows either
    assert redact_url("redis://h:6379/0?password=s3cret") == "redis://h:6379/0?password=***"
    assert redact_url("unix:///run/r.sock?db=2&Password=s3cret") == "unix:///run/r.sock?db=2&Password=***"
    assert "s3cret" not in redact_url("redis://u:s3cret@h:6379/0?password=s3cret&db=1")


def test_a_slow_instance_does_not_slow_the_others(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    fast = a.subscribe(["chat"], limit=2_000)
    stuck = b.subscribe(["chat"], limit=10)  # a subscriber on B that never reads
    for n in range(1_000):
        a.publish("chat", {"n": n})
        if n % 100 == 99:
            gevent.sleep(0)
    gwait(lambda: fast.pending() == 1_000, what="all 1,000 on A")
    gwait(lambda: b.delivered_from_redis == 1_000, what="B's reader through them all")
    assert stuck.pending() == 10 and stuck.unreported() == 990  # B's queue kept its bound, counted the rest
    assert b.dropped_total() == 990 and a.dropped_total() == 0


def test_a_redis_that_refuses_is_a_clear_error(redis_server: RedisServer) -> None:  # noqa: F811
    bus = RedisBus(redis_server.url.rsplit("/", 1)[0] + "/99", TOPICS)  # redis-server has 16 databases
    with pytest.raises(BusUnavailable, match=r"Redis at redis://127\.0\.0\.1:\d+/99 refused: .*DB index"):
        bus.start(timeout=2)
    bus.close()


def test_a_reader_that_lost_its_connection_resumes_after_the_last_id(buses: tuple[RedisBus, RedisBus],
                                                                    redis_server: RedisServer) -> None:  # noqa: F811
    a, b = buses
    sub = b.subscribe(["chat"], limit=1_000)
    a.publish("chat", {"n": -1})
    gwait(lambda: sub.pending() == 1, what="the first item on B")
    admin = redis_server.client()
    reader = next(c for c in admin.client_list() if c["name"] == "sockdash:B:reader")
    admin.client_kill_filter(_id=reader["id"])  # B alone loses its reading connection
    for n in range(100):  # published while B's reader reconnects: in the stream after B's last id
        a.publish("chat", {"n": n})
    gwait(lambda: sub.pending() == 101, what="all 100 on B")
    gevent.sleep(0.2)
    assert [item["n"] for _, item in drain(sub)] == list(range(-1, 100))  # none missed, none twice


def test_a_redis_that_refuses_degrades_the_bus_and_no_loop_dies(buses: tuple[RedisBus, RedisBus],
                                                                redis_server: RedisServer,  # noqa: F811
                                                                caplog: pytest.LogCaptureFixture) -> None:
    a, b = buses
    on_a, on_b = a.subscribe(["chat", "transfers"]), b.subscribe(["chat"])
    admin = redis_server.client()
    admin.set(stream_key("transfers"), "x")  # a stream key overwritten: XADD and XREAD answer WRONGTYPE
    a.publish("transfers", {"n": 1})
    gwait(lambda: a.state() == "degraded" and b.state() == "degraded", what="both buses degraded")
    assert "WRONGTYPE" in (a.refusal() or "")
    assert any("refuses" in r.getMessage() and "WRONGTYPE" in r.getMessage() for r in caplog.records)
    gwait(lambda: on_a.pending() == 1, what="the refused item delivered on A, its publisher")
    assert drain(on_a) == [("transfers", {"n": 1})] and a.refused_writes == 1
    admin.delete(stream_key("transfers"))  # Redis takes them again: both loops are still there
    a.publish("chat", {"n": 2})
    gwait(lambda: on_b.pending() == 1, what="the next item on B")
    assert drain(on_b) == [("chat", {"n": 2})]
    gwait(lambda: a.state() == b.state() == "connected", what="both connected again")


def test_entries_that_are_not_ours_are_skipped_and_counted(buses: tuple[RedisBus, RedisBus],
                                                           redis_server: RedisServer,  # noqa: F811
                                                           caplog: pytest.LogCaptureFixture) -> None:
    a, b = buses
    sub = b.subscribe(["chat"])
    admin = redis_server.client()
    key = stream_key("chat")
    bad = [admin.xadd(key, {"x": "y"}), admin.xadd(key, {"d": "[]"}), admin.xadd(key, {"d": "{nope"}),
           admin.xadd(key, {"d": "{}", "i": "B", "s": "not a number"})]
    a.publish("chat", {"n": 1})
    gwait(lambda: sub.pending() == 2, what="the good items on B")
    assert [item for _, item in drain(sub)] == [{}, {"n": 1}]  # the last bad one is a dict (its "s" aside)
    assert b.bad_entries == 3
    assert [item for _, item in a.history("chat", 10)] == [{}, {"n": 1, "instance": "A"}]
    assert any(bad[0] in r.getMessage() and key in r.getMessage() for r in caplog.records)
    a.publish("chat", {"n": 2})  # B's reader goes on
    gwait(lambda: sub.pending() == 1, what="the next item on B")
