import gevent

from sockets_core.bus import CLUSTER_TOPICS, Batch, BoundedQueue, Bus


def test_subscriber_receives_items_of_its_topics_in_order() -> None:
    bus = Bus()
    sub = bus.subscribe(["a"])
    everything = bus.subscribe()
    bus.publish("a", 1)
    bus.publish("b", 2)
    bus.publish("a", 3)
    assert sub.get_batch(timeout=0).items == [("a", 1), ("a", 3)]
    assert everything.get_batch(timeout=0).items == [("a", 1), ("b", 2), ("a", 3)]


def test_subscriber_that_never_reads_keeps_only_the_newest_and_counts_the_rest() -> None:
    bus = Bus()
    stuck = bus.subscribe(limit=100, name="stuck")
    reader = bus.subscribe(limit=100_000)
    for i in range(50_000):
        bus.publish("packet", i)
    # publishing never waited for the stuck subscriber: its queue stayed at its limit
    assert stuck.pending() == 100
    batch = stuck.get_batch(timeout=0)
    assert batch.dropped == 49_900
    assert [item for _, item in batch.items] == list(range(49_900, 50_000))
    assert stuck.dropped_total == 49_900
    # and the other subscriber lost nothing
    assert len(reader.get_batch(timeout=0).items) == 50_000
    # the drop count is reported once
    bus.publish("packet", "x")
    assert stuck.get_batch(timeout=0).dropped == 0


def test_publish_does_not_yield_to_other_greenlets() -> None:
    bus = Bus()
    bus.subscribe(limit=1)
    ran = []
    gevent.spawn(ran.append, "other")
    for i in range(1000):
        bus.publish("t", i)
    assert ran == []  # publish never switched greenlets, so it cannot have blocked
    gevent.sleep(0)  # the behaviour under test: one turn of the hub, and the other greenlet has run
    assert ran == ["other"]


def test_get_batch_wakes_when_another_greenlet_publishes() -> None:
    bus = Bus()
    sub = bus.subscribe(["t"])
    gevent.spawn_later(0.01, bus.publish, "t", "hello")
    batch = sub.get_batch(timeout=5)
    assert batch.items == [("t", "hello")]


def test_get_batch_times_out_empty_and_max_items_limits() -> None:
    bus = Bus()
    sub = bus.subscribe()
    assert sub.get_batch(timeout=0.01).items == []
    for i in range(5):
        bus.publish("t", i)
    assert len(sub.get_batch(timeout=0, max_items=2).items) == 2
    assert len(sub.get_batch(timeout=0).items) == 3


def test_closed_subscription_no_longer_receives() -> None:
    bus = Bus()
    with bus.subscribe() as sub:
        assert bus.subscriber_count() == 1
    assert bus.subscriber_count() == 0
    bus.publish("t", 1)
    assert sub.get_batch(timeout=0).items == []


def test_a_bounded_queue_keeps_the_newest_and_reports_the_rest_once() -> None:
    queue: BoundedQueue[int] = BoundedQueue(3, "web chat tab")
    assert queue.wait(timeout=0) is False
    for i in range(5):
        queue.put(i)
    assert queue.wait(timeout=0) is True and queue.pending() == 3  # wait() takes nothing
    batch = queue.get_batch(timeout=0)
    assert (batch.items, batch.dropped) == ([2, 3, 4], 2)
    queue.put(5)
    assert queue.get_batch(timeout=0) == Batch([5], 0)


def test_the_in_memory_bus_is_the_local_instance() -> None:
    bus = Bus()
    assert (bus.instance, bus.state()) == ("local", "local")
    assert "chat" in CLUSTER_TOPICS
