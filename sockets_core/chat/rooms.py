"""The table of chat rooms: who is in each, which empty ones are still listed, and the cap.

A room is listed while it has members; when the last one leaves it stays listed (empty)
for ``ttl`` seconds, so others can still find it, then it is forgotten — the lobby never.
The table holds at most ``max_rooms`` rooms: opening one more first closes the empty room
that has been empty longest (nothing is lost: an empty room has no one to tell, and its
history stays in the history store), and only when none is empty is the new room refused.

Every change bumps ``version``, so callers (the browsers' room list) can rebuild and send
the list only when it changed; ``counts()`` is itself rebuilt at most once per version.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypeVar

DEFAULT_ROOM = "lobby"
M = TypeVar("M")


class RoomLimitError(Exception):
    """The table is full and none of its rooms is empty."""


@dataclass(eq=False)
class _Room(Generic[M]):
    members: dict[M, None] = field(default_factory=dict)  # an ordered set: who joined first hears first
    opener: M | None = None


class RoomTable(Generic[M]):
    def __init__(self, max_rooms: int, ttl: float) -> None:
        self.max_rooms = max(1, max_rooms)
        self.ttl = ttl
        self._rooms: dict[str, _Room[M]] = {DEFAULT_ROOM: _Room()}
        self._empty: OrderedDict[str, float] = OrderedDict()  # empty rooms -> since when, oldest first
        self.version = 0
        self._counts: tuple[int, dict[str, int]] = (-1, {})

    def __contains__(self, room: str) -> bool:
        return room in self._rooms

    def __len__(self) -> int:
        return len(self._rooms)

    def open(self, room: str, opener: M, now: float) -> tuple[str, M | None] | None:
        """Create ``room`` (empty, about to be joined); returns the (name, opener) of the
        empty room closed to make space, if one was. RoomLimitError if none could be."""
        evicted = None
        if len(self._rooms) >= self.max_rooms:
            if not self._empty:
                raise RoomLimitError(room)
            name, _ = self._empty.popitem(last=False)
            evicted = (name, self._rooms.pop(name).opener)
        self._rooms[room] = _Room(opener=opener)
        self.version += 1
        return evicted

    def adopt(self, room: str) -> None:
        """A room someone on another instance is in: listed here too, past the cap if need
        be (that instance checked its own; refusing would only make the views differ)."""
        if room not in self._rooms:
            self._rooms[room] = _Room()
            self.version += 1

    def has_space(self) -> bool:
        """Whether ``open`` would succeed: below the cap, or an empty room to close."""
        return len(self._rooms) < self.max_rooms or bool(self._empty)

    def add(self, room: str, member: M) -> None:
        self._rooms[room].members[member] = None
        self._empty.pop(room, None)
        self.version += 1

    def discard(self, room: str, member: M, now: float) -> None:
        record = self._rooms.get(room)
        if record is None or member not in record.members:
            return
        del record.members[member]
        if not record.members and room != DEFAULT_ROOM:
            self._empty[room] = now
        self.version += 1

    def disown(self, room: str) -> None:
        """The opener is gone: the room no longer counts against anyone's budget."""
        record = self._rooms.get(room)
        if record is not None:
            record.opener = None

    def members(self, room: str) -> list[M]:
        """A copy: delivering to them may change the room."""
        record = self._rooms.get(room)
        return list(record.members) if record is not None else []

    def members_other_than(self, room: str, member: M) -> int:
        record = self._rooms.get(room)
        if record is None:
            return 0
        return len(record.members) - (member in record.members)

    def expire(self, now: float) -> list[tuple[str, M | None]]:
        """Close the rooms empty for longer than ``ttl``; returns (name, opener) of each."""
        closed = []
        while self._empty:
            room, since = next(iter(self._empty.items()))
            if now - since <= self.ttl:
                break
            del self._empty[room]
            closed.append((room, self._rooms.pop(room).opener))
        if closed:
            self.version += 1
        return closed

    def counts(self) -> dict[str, int]:
        version, counts = self._counts
        if version != self.version:
            counts = {name: len(self._rooms[name].members) for name in sorted(self._rooms)}
            self._counts = (self.version, counts)
        return dict(counts)
