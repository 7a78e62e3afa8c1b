"""In-process publish/subscribe between the services and the web side.

How it works: every subscriber owns a bounded deque. ``publish`` appends to the deque of
each subscriber interested in the topic and sets its gevent Event; it never waits, so a
TFTP transfer or a chat never slows down because a browser is slow. When a deque is
full the *oldest* item is dropped and counted; the subscriber learns the count with its
next batch. (websockify and Flask-SocketIO let send queues grow without limit; we don't.)

Everything runs on one gevent hub, so no lock is needed: publish and get_batch never
yield between reading and changing a deque.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gevent.event import Event

log = logging.getLogger(__name__)

DEFAULT_QUEUE_LIMIT = 1_000


@dataclass(frozen=True)
class Batch:
    """What a subscriber gets at once: (topic, item) pairs in order, and how many were lost."""

    items: list[tuple[str, Any]]
    dropped: int


class Subscription:
    def __init__(self, bus: Bus, topics: frozenset[str] | None, limit: int, name: str) -> None:
        if limit < 1:
            raise ValueError("a subscription queue holds at least one item")
        self.name = name
        self.topics = topics
        self.limit = limit
        self.dropped_total = 0
        self._bus = bus
        self._items: deque[tuple[str, Any]] = deque()
        self._dropped = 0
        self._ready = Event()
        self.closed = False

    def offer(self, topic: str, item: Any) -> None:
        if len(self._items) >= self.limit:
            self._items.popleft()
            self._dropped += 1
        self._items.append((topic, item))
        self._ready.set()

    def get_batch(self, timeout: float | None = None, max_items: int | None = None) -> Batch:
        """Wait up to ``timeout`` seconds for items, then take them (at most ``max_items``)."""
        if not self._items and not self.closed:
            self._ready.wait(timeout)
        count = len(self._items) if max_items is None else min(max_items, len(self._items))
        items = [self._items.popleft() for _ in range(count)]
        dropped, self._dropped = self._dropped, 0
        if dropped:
            self.dropped_total += dropped
            log.info("bus subscriber %s fell behind: %d items dropped (queue limit %d)",
                     self.name, dropped, self.limit)
        if not self._items:
            self._ready.clear()
        return Batch(items, dropped)

    def pending(self) -> int:
        return len(self._items)

    def close(self) -> None:
        self.closed = True
        self._bus._remove(self)
        self._ready.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Bus:
    def __init__(self) -> None:
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

    def dropped_total(self) -> int:
        """Items dropped since the bus was made, for every subscriber (read by /metrics;
        summed here, so publish stays as it was)."""
        return self._dropped_by_closed + sum(s.dropped_total + s._dropped for s in self._subscriptions)

    def _remove(self, sub: Subscription) -> None:
        try:
            self._subscriptions.remove(sub)
        except ValueError:
            return
        self._dropped_by_closed += sub.dropped_total + sub._dropped
