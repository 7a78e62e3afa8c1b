"""Presence: the chat state every instance of a cluster must agree on at once.

Most of the cluster's chat state travels as events on the bus (sockets_core/chat/wire.py):
who is in which room on which instance is rebuilt by each instance from the membership
events it consumes (chat/remote.py), so /names, the room list and member counts need no
shared store. Three things cannot wait for events, and they are Presence:

- **nick claims**: a nick is unique across every instance and transport. ``claim`` is an
  atomic test-and-set (Redis: ``SET nick-key instance NX EX ttl``); a claim held by an
  instance that is no longer alive is free (Redis: the key expired).
- **liveness**: each instance ``beat``s every BEAT_INTERVAL; one silent for ``ttl`` seconds
  is not ``alive`` (Redis: a key with TTL). The others then drop its members from their
  views and tell their own members those left (a kill -9 is noticed within
  ``ttl`` + SWEEP_INTERVAL, under 10 s). A beat also refreshes the TTL of the instance's
  nick claims (Redis: the implementation remembers which nicks it claimed).
- **an id slot**: message ids are unique across the cluster without a round trip per
  message: an instance draws ``counter * ID_SLOTS + slot`` (hub.py), where ``slot`` is a
  number no other live instance holds (Redis: ``SET slot-key instance NX EX ttl`` over
  0..ID_SLOTS-1, refreshed by the beat).

Every method may do a network round trip (cooperatively, under gevent) but must not raise
for a lost connection: while the store is unreachable a Redis implementation answers from
what it last knew (``claim``: True unless it knows another instance holds the nick;
``alive``: True, so a Redis outage does not make every remote member leave).

MemoryPresence is the in-memory implementation: the embedded default (one instance), and
one object shared by several hubs in the tests (a perfect cluster without Redis). Time is
its ``clock``, so a test can stop an instance's heart without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

LIVENESS_TTL = 6.0  # seconds without a beat after which an instance is gone
BEAT_INTERVAL = 2.0  # how often an instance beats (3 beats per TTL: one lost beat is not death)
SWEEP_INTERVAL = 1.0  # how often an instance looks for dead ones
ID_SLOTS = 1024  # live instances at most (the low bits of a message id)


class NoSlotError(RuntimeError):
    """ID_SLOTS instances are alive already."""


class Presence(Protocol):
    ttl: float  # seconds an instance stays alive after its last beat

    def beat(self, instance: str) -> None:
        """``instance`` is alive now (and keeps its nick claims and its slot)."""

    def alive(self, instance: str) -> bool:
        """Whether ``instance`` beat within the last ``ttl`` seconds."""

    def slot(self, instance: str) -> int:
        """``instance``'s id slot, 0 <= slot < ID_SLOTS, held by no other live instance;
        the same one for as long as it stays alive. Counts as a beat. NoSlotError if
        every slot is held."""

    def claim(self, nick: str, instance: str) -> bool:
        """Take ``nick`` (case-insensitive) for ``instance``: True if it was free, held
        by ``instance`` already, or held by an instance no longer alive."""

    def release(self, nick: str, instance: str) -> None:
        """Give ``nick`` back, if ``instance`` holds it (never another instance's)."""

    def release_all(self, instance: str) -> None:
        """``instance`` stops: its nicks and its slot are free at once."""


class MemoryPresence:
    def __init__(self, ttl: float = LIVENESS_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._beats: dict[str, float] = {}  # instance -> its last beat
        self._nicks: dict[str, str] = {}  # lower-cased nick -> instance
        self._slots: dict[int, str] = {}  # slot -> instance

    def beat(self, instance: str) -> None:
        self._beats[instance] = self.clock()

    def alive(self, instance: str) -> bool:
        last = self._beats.get(instance)
        return last is not None and self.clock() - last <= self.ttl

    def slot(self, instance: str) -> int:
        self.beat(instance)
        free = None
        for number in range(ID_SLOTS):
            holder = self._slots.get(number)
            if holder == instance:
                return number
            if free is None and (holder is None or not self.alive(holder)):
                free = number
        if free is None:
            raise NoSlotError(f"{ID_SLOTS} instances are alive (limit)")
        self._slots[free] = instance
        return free

    def claim(self, nick: str, instance: str) -> bool:
        key = nick.lower()
        holder = self._nicks.get(key)
        if holder is not None and holder != instance and self.alive(holder):
            return False
        self._nicks[key] = instance
        return True

    def release(self, nick: str, instance: str) -> None:
        key = nick.lower()
        if self._nicks.get(key) == instance:
            del self._nicks[key]

    def release_all(self, instance: str) -> None:
        self._nicks = {nick: holder for nick, holder in self._nicks.items() if holder != instance}
        self._slots = {number: holder for number, holder in self._slots.items() if holder != instance}
        self._beats.pop(instance, None)

    def holder(self, nick: str) -> str | None:
        """Who holds ``nick`` (tests, and the embedded status)."""
        return self._nicks.get(nick.lower())
