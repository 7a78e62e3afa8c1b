"""Publish/subscribe between the services and the web side: the Bus interface and the
in-memory Bus, the embedded default.

How it works: every subscriber owns a bounded queue (BoundedQueue). ``publish`` appends
to the queue of each subscriber interested in the topic and sets its gevent Event; it
never waits, so a TFTP transfer or a chat never slows down because a browser is slow.
When a queue is full the *oldest* item is dropped and counted; the subscriber learns the
count with its next batch. (websockify and Flask-SocketIO let send queues grow without
limit; we don't.)

Everything runs on one gevent hub, so no lock is needed: publish and get_batch never
yield between reading and changing a deque.

Several instances (processes, machines) share one world through a bus that implements
``BusLike`` over Redis (sockets_core/redis_bus.py). The contract both implementations keep,
so that code tested on the in-memory bus works on Redis unchanged:

- Items on the topics in ``CLUSTER_TOPICS`` are seen by every instance. They are JSON-able
  dicts (str keys; str, int, float, bool, None, lists and dicts of them) carrying
  ``"instance"``: the ``instance`` of the bus that published them. A subscriber must not
  rely on getting the very object published: on Redis it gets a decoded copy.
- An item published on a cluster topic reaches the subscribers of every instance, this
  one's included, once each: on the in-memory bus during ``publish``; on Redis when it
  comes back from Redis (so every instance sees one stream in one order), or at once and
  locally only while Redis is away. Consumers must not assume it arrives during
  ``publish`` (the chat hub drains its subscription after publishing, which on the
  in-memory bus delivers at once and on Redis finds nothing yet). Items of one publisher
  arrive in the order it published them.
- Every other topic stays inside the instance (a browser's feed of a local folder...).
- ``publish`` never blocks; queues are bounded; ``dropped_total`` counts what was lost.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from gevent.event import Event

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 1_000
LOCAL_INSTANCE = "local"  # the instance id of the embedded default (one process, in-memory bus)

# topics every instance sees; their items are JSON-able dicts with "instance" (see above).
# chat: every chat event and the chat's membership events (sockets_core/chat/wire.py:
# one topic, so that one instance's joins, messages and leaves stay in order).
CLUSTER_TOPICS: frozenset[str] = frozenset({"chat", "transfers", "packet", "status"})

T = TypeVar("T")


@dataclass(frozen=True)
class Batch(Generic[T]):
    """What a reader gets at once: items in order, and how many were lost before them."""

    items: list[T]
    dropped: int


class BoundedQueue(Generic[T]):
    """A queue of at most ``limit`` items for one reader: ``put`` never waits; when full it
    drops the oldest item and counts it; ``get_batch`` waits (gevent) and takes what is there."""

    def __init__(self, limit: int, name: str = "queue") -> None:
        if limit < 1:
            raise ValueError("a queue holds at least one item")
        self.name = name
        self.limit = limit
        self.dropped_total = 0
        self._items: deque[T] = deque()
        self._dropped = 0
        self._ready = Event()
        self.closed = False

    def put(self, item: T) -> None:
        if len(self._items) >= self.limit:
            self._items.popleft()
            self._dropped += 1
        self._items.append(item)
        self._ready.set()

    def get_batch(self, timeout: float | None = None, max_items: int | None = None) -> Batch[T]:
        """Wait up to ``timeout`` seconds for items, then take them (at most ``max_items``).
        With items waiting it returns at once, without yielding to other greenlets."""
        if not self._items and not self.closed:
            self._ready.wait(timeout)
        count = len(self._items) if max_items is None else min(max_items, len(self._items))
        items = [self._items.popleft() for _ in range(count)]
        dropped, self._dropped = self._dropped, 0
        if dropped:
            self.dropped_total += dropped
            log.info("%s fell behind: %d items dropped (queue limit %d)", self.name, dropped, self.limit)
        if not self._items:
            self._ready.clear()
        return Batch(items, dropped)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for an item without taking it; whether one is there."""
        if not self._items and not self.closed:
            self._ready.wait(timeout)
        return bool(self._items)

    def pending(self) -> int:
        return len(self._items)

    def unreported(self) -> int:
        """Items dropped that no batch has reported yet."""
        return self._dropped

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def __enter__(self) -> BoundedQueue[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Owner(Protocol):
    def _remove(self, sub: Subscription) -> None: ...


class Subscription(BoundedQueue[tuple[str, Any]]):
    """A bus subscriber's queue of (topic, item) pairs; ``close`` unsubscribes."""

    def __init__(self, bus: _Owner, topics: frozenset[str] | None, limit: int, name: str) -> None:
        super().__init__(limit, f"bus subscriber {name}")
        self.topics = topics
        self._bus = bus

    def offer(self, topic: str, item: Any) -> None:
        self.put((topic, item))

    def close(self) -> None:
        super().close()
        self._bus._remove(self)

    def __enter__(self) -> Subscription:
        return self


class BusLike(Protocol):
    """What the services and the web side use of a bus (in-memory or Redis)."""

    # this instance's id, in every cluster item it publishes: "local" for the embedded
    # default; host:pid or --instance-name on Redis
    instance: str

    def publish(self, topic: str, item: Any) -> None:
        """Hand ``item`` to the subscribers of ``topic``; never blocks."""

    def subscribe(self, topics: Iterable[str] | None = None, limit: int = DEFAULT_QUEUE_LIMIT,
                  name: str = "subscriber") -> Subscription:
        """Subscribe to ``topics`` (None: every topic), with a queue of ``limit`` items."""

    def dropped_total(self) -> int:
        """Items dropped for slow subscribers since the bus was made (read by /metrics)."""

    def state(self) -> str:
        """"local" (in-memory), "connected" or "reconnecting" (Redis)."""


class Bus:
    """The in-memory bus: one process, every topic local (cluster topics included)."""

    def __init__(self, instance: str = LOCAL_INSTANCE) -> None:
        self.instance = instance
        self._subscriptions: list[Subscription] = []
        self._dropped_by_closed = 0  # items dropped for subscriptions now closed

    def subscribe(self, topics: Iterable[str] | None = None, limit: int = DEFAULT_QUEUE_LIMIT,
                  name: str = "subscriber") -> Subscription:
        """Subscribe to ``topics`` (None: every topic)."""
        sub = Subscription(self, frozenset(topics) if topics is not None else None, limit, name)
        self._subscriptions.append(sub)
        return sub

    def publish(self, topic: str, item: Any) -> None:
        for sub in self._subscriptions:
            if sub.topics is None or topic in sub.topics:
                sub.offer(topic, item)

    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def state(self) -> str:
        return "local"

    def dropped_total(self) -> int:
        """Items dropped since the bus was made, for every subscriber (read by /metrics;
        summed here, so publish stays as it was)."""
        return self._dropped_by_closed + sum(s.dropped_total + s.unreported() for s in self._subscriptions)

    def _remove(self, sub: Subscription) -> None:
        try:
            self._subscriptions.remove(sub)
        except ValueError:
            return
        self._dropped_by_closed += sub.dropped_total + sub.unreported()
