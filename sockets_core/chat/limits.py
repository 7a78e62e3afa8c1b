"""The chat's limits, and the small tool that enforces one of them without growing itself.

Everything a chat client can make the server keep is bounded: rooms (in total, per client,
and empty ones expire), names, the message ids the web chat remembers, the history on disk.
When a limit bites the client is told why and a WARNING names the peer and the count; the
warnings go through ``sockets_core.logthrottle.ThrottledWarning`` (one line per key every
``WARNING_INTERVAL`` s, and a cap on lines in all), so a client that hits a limit in a loop,
or thousands of peers that hit one at once, cannot flood the log.
Like the rest of chat/, nothing here reads a clock: ``now`` is passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_ROOMS = 1_000
DEFAULT_ROOMS_PER_CLIENT = 20
DEFAULT_ROOM_TTL = 300.0
DEFAULT_HISTORY_PER_ROOM = 10_000
DEFAULT_HISTORY_MAX_BYTES = 64 << 20
WARNING_INTERVAL = 10.0


@dataclass(frozen=True)
class ChatLimits:
    max_rooms: int = DEFAULT_MAX_ROOMS  # rooms listed at once, the lobby included
    rooms_per_client: int = DEFAULT_ROOMS_PER_CLIENT  # rooms a client is in, plus empty ones it opened
    room_ttl: float = DEFAULT_ROOM_TTL  # seconds an empty room stays listed

    @classmethod
    def from_settings(cls, settings: Any) -> ChatLimits:
        return cls(settings.chat_max_rooms, settings.chat_rooms_per_client, float(settings.chat_room_ttl))


class RecentIds:
    """The message ids handled for each web client, so a resend after a reconnect is acked
    again instead of posted twice. Bounded three ways: an id's length (longer ones are
    refused by the caller), ``per_client`` ids per client (a window: the oldest go first)
    and ``total`` ids in all (the least recent first); ids older than ``ttl`` are forgotten,
    since a browser resends within seconds of reconnecting. Each id keeps the id of the event
    it produced, so the repeated ack names it and the browser can drop its copy if it already
    has the event (from the history it got on reconnecting)."""

    def __init__(self, per_client: int = 200, total: int = 20_000, ttl: float = 600.0) -> None:
        self.per_client = per_client
        self.total = total
        self.ttl = ttl
        # (client, id) -> (when, the event's id), oldest first
        self._order: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        self._by_client: dict[str, deque[str]] = {}

    def __len__(self) -> int:
        return len(self._order)

    def seen(self, client: str, message_id: str) -> bool:
        return (client, message_id) in self._order

    def event_id(self, client: str, message_id: str) -> int | None:
        """The id of the event a handled message produced (0 if it produced none)."""
        entry = self._order.get((client, message_id))
        return None if entry is None else entry[1]

    def remember(self, client: str, message_id: str, now: float, event_id: int = 0) -> float | None:
        """Remember an id; returns the age of an id evicted by the total bound (a flood if it
        is young), else None."""
        key = (client, message_id)
        if key in self._order:
            return None
        while self._order and now - next(iter(self._order.values()))[0] > self.ttl:
            self._drop_oldest()
        ids = self._by_client.setdefault(client, deque())
        if len(ids) >= self.per_client:
            del self._order[(client, ids.popleft())]
        ids.append(message_id)
        self._order[key] = (now, event_id)
        evicted_age = None
        if len(self._order) > self.total:
            evicted_age = now - self._drop_oldest()
        return evicted_age

    def _drop_oldest(self) -> float:
        (client, _), (when, _) = self._order.popitem(last=False)
        ids = self._by_client[client]
        ids.popleft()  # a client's oldest id is the first of its ids in the global order
        if not ids:
            del self._by_client[client]
        return when
