"""RedisPresence: chat/presence.py's Presence on Redis (nick claims, liveness, id slots).

Keys (all with a TTL that the owner's beat refreshes, so a kill -9'd instance's keys expire
by themselves within ``ttl`` seconds):

- ``sockdash:alive:<instance>``: the instance beat within ``ttl``;
- ``sockdash:nick:<lower-cased nick>`` = instance: ``SET NX PX`` claims it;
- ``sockdash:slot:<n>`` = instance: its message-id slot, ``SET NX PX`` over the free ones.

Lost connection: nothing raises. ``claim`` answers True unless this object knows another
instance holds the nick; ``alive`` answers True (an outage must not make every remote member
leave); ``slot`` keeps the slot it had. The next beat after the outage writes the keys again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from ..chat.presence import ID_SLOTS, LIVENESS_TTL, NoSlotError
from ..redis_bus import KEY_PREFIX, REDIS_ERRORS

log = logging.getLogger(__name__)

ALIVE_PREFIX = KEY_PREFIX + "alive:"
NICK_PREFIX = KEY_PREFIX + "nick:"
SLOT_PREFIX = KEY_PREFIX + "slot:"

# delete KEYS[1] only while it holds ARGV[1]: never free another instance's nick or slot
_DELETE_IF_MINE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# take KEYS[1] for ARGV[1] if it is free, ours, or held by an instance whose alive key is gone
_CLAIM = """
local holder = redis.call('get', KEYS[1])
if holder == false or holder == ARGV[1] or redis.call('exists', ARGV[3] .. holder) == 0 then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisPresence:
    def __init__(self, client: Any, ttl: float = LIVENESS_TTL) -> None:
        self.client = client
        self.ttl = ttl
        self._claimed: dict[str, set[str]] = {}  # instance -> the nicks (lower-cased) it claimed here
        self._slots: dict[str, int] = {}  # instance -> its slot, as last known
        self._delete_if_mine = client.register_script(_DELETE_IF_MINE)
        self._claim = client.register_script(_CLAIM)
        self._last_error = float("-inf")  # monotonic time of the last failed round trip

    def _failed(self) -> None:
        self._last_error = time.monotonic()

    @property
    def _ttl_ms(self) -> int:
        return int(self.ttl * 1000)

    def _take(self, key: str, instance: str, client: Any = None) -> Any:
        return self._claim(keys=[key], args=[instance, self._ttl_ms, ALIVE_PREFIX], client=client)

    def beat(self, instance: str) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(ALIVE_PREFIX + instance, "1", px=self._ttl_ms)
            # refreshed through the claim script: a key that expired during an outage and was
            # taken by another (live) instance meanwhile stays that instance's
            for nick in self._claimed.get(instance, ()):
                self._take(NICK_PREFIX + nick, instance, pipe)
            if instance in self._slots:
                self._take(SLOT_PREFIX + str(self._slots[instance]), instance, pipe)
            pipe.execute()
        except REDIS_ERRORS as exc:
            self._failed()
            log.debug("presence: beat of %s not written: %s", instance, exc)

    def alive(self, instance: str) -> bool:
        # for ttl seconds after an outage, absent is not dead: a Redis that restarted empty
        # has no alive keys until every instance's next beat (BEAT_INTERVAL < ttl)
        if time.monotonic() - self._last_error < self.ttl:
            return True
        try:
            return bool(self.client.exists(ALIVE_PREFIX + instance))
        except REDIS_ERRORS:
            self._failed()
            return True

    def slot(self, instance: str) -> int:
        self.beat(instance)
        try:
            known = self._slots.get(instance)
            if known is not None and self._take(SLOT_PREFIX + str(known), instance):
                return known
            holders = self.client.mget([SLOT_PREFIX + str(n) for n in range(ID_SLOTS)])
            for number, holder in enumerate(holders):
                if holder in (None, instance) and self._take(SLOT_PREFIX + str(number), instance):
                    self._slots[instance] = number
                    return number
        except REDIS_ERRORS:
            if instance in self._slots:
                return self._slots[instance]
            raise
        raise NoSlotError(f"{ID_SLOTS} instances are alive (limit)")

    def claim(self, nick: str, instance: str) -> bool:
        key = nick.lower()
        try:
            taken = bool(self._take(NICK_PREFIX + key, instance))
        except REDIS_ERRORS:
            taken = True  # answer from what we know: nobody here holds it (the hub checked its members)
        if taken:
            self._claimed.setdefault(instance, set()).add(key)
        return taken

    def release(self, nick: str, instance: str) -> None:
        key = nick.lower()
        self._claimed.get(instance, set()).discard(key)
        with contextlib.suppress(*REDIS_ERRORS):  # else it expires within ttl: no beat refreshes it
            self._delete_if_mine(keys=[NICK_PREFIX + key], args=[instance])

    def release_all(self, instance: str) -> None:
        nicks = self._claimed.pop(instance, set())
        slot = self._slots.pop(instance, None)
        try:
            self.client.delete(ALIVE_PREFIX + instance)
            for key in [NICK_PREFIX + n for n in nicks] + ([SLOT_PREFIX + str(slot)] if slot is not None else []):
                self._delete_if_mine(keys=[key], args=[instance])
        except REDIS_ERRORS:
            pass

    def holder(self, nick: str) -> str | None:
        try:
            value = self.client.get(NICK_PREFIX + nick.lower())
        except REDIS_ERRORS:
            return None
        return str(value) if value is not None else None
