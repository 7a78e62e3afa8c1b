"""What the web chat's tabs need every instance to agree on, with --bus (one Redis).

A tab may reconnect to another instance (its worker crashed, a load balancer chose
another): what makes it "the same tab" must then be known there too.

- The client-secret key (chat_identity): one random key stored under KEY (``SET NX``, as
  the admin token is), so a secret issued by one instance is recognised by all. Read at
  each hello (one GET), so a Redis that lost its data gets one new key that every
  instance adopts; the last one read is used while Redis is unreachable.
- The message ids handled: each (secret, id) is claimed with ``SET NX`` and the id
  window's TTL before the message is posted, then holds the event's id, so a resend to
  another instance is acked again, not posted twice.
- The direct messages kept for a reload: a list per secret, capped at the same count and
  expiring after the same idle time as the in-memory PrivateMessages.

Keys hold a SHA-256 of the secret, never the secret. Redis unreachable: the instance goes
on with what it has locally (a WARNING, throttled). Embedded mode never builds one of these.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import weakref
from typing import Any

from sockets_core.chat.hub import ChatEvent
from sockets_core.logthrottle import ThrottledWarning

log = logging.getLogger(__name__)

KEY = "sockdash:webchat:key"  # sockets_core/redis_bus.py KEY_PREFIX (not imported: it needs redis)
HANDLED_PREFIX = "sockdash:webchat:handled:"
DMS_PREFIX = "sockdash:webchat:dms:"
PENDING = "-"  # a claimed id whose message is being posted
WARNING_INTERVAL = 60.0


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:40]


class SharedChatState:
    def __init__(self, client: Any, errors: tuple[type[BaseException], ...]) -> None:
        self.client = client
        self.errors = errors  # what an unreachable Redis raises
        self._key: bytes | None = None
        self._warnings = ThrottledWarning(log, WARNING_INTERVAL)

    def _unreachable(self, what: str, exc: BaseException) -> None:
        self._warnings.warn("web chat: Redis unreachable (%s): %s on this instance only", exc, what, key=what)

    def key(self, local: bytes) -> bytes:
        """The cluster's client-secret key (``local`` until Redis has answered once)."""
        try:
            stored = self.client.get(KEY)
            if stored is None:
                self.client.set(KEY, secrets.token_hex(32), nx=True)
                stored = self.client.get(KEY)
            self._key = bytes.fromhex(stored.decode() if isinstance(stored, bytes) else str(stored))
        except self.errors as exc:
            self._unreachable("client secrets recognised", exc)
        return self._key if self._key is not None else local

    def claim(self, secret: str, message_id: str, ttl: float) -> tuple[bool, int | None]:
        """Claim a message id for posting: (True, None) if this instance may post it, else
        (False, the id of the event it made elsewhere; None while it is being posted)."""
        try:
            if self.client.set(HANDLED_PREFIX + _digest(secret, message_id), PENDING, nx=True, ex=int(ttl)):
                return True, None
            stored = self.client.get(HANDLED_PREFIX + _digest(secret, message_id))
        except self.errors as exc:
            self._unreachable("resends recognised", exc)
            return True, None
        value = stored.decode() if isinstance(stored, bytes) else stored
        if value is None:  # expired between the two calls: an old id, post it
            return True, None
        return False, (None if value == PENDING else int(value))

    def handled(self, secret: str, message_id: str, event_id: int, ttl: float) -> None:
        try:
            self.client.set(HANDLED_PREFIX + _digest(secret, message_id), str(event_id), ex=int(ttl))
        except self.errors as exc:
            self._unreachable("resends recognised", exc)

    def release(self, secret: str, message_id: str) -> None:
        """A refused message: its id may be sent again."""
        try:
            self.client.delete(HANDLED_PREFIX + _digest(secret, message_id))
        except self.errors as exc:
            self._unreachable("resends recognised", exc)

    def keep_dm(self, secret: str, partner: str, event: ChatEvent, per_client: int, ttl: float) -> None:
        key = DMS_PREFIX + _digest(secret)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(key, json.dumps({**event.as_dict(), "with": partner}, ensure_ascii=False))
            pipe.ltrim(key, -per_client, -1)
            pipe.expire(key, int(ttl))
            pipe.execute()
        except self.errors as exc:
            self._unreachable("direct messages kept for reloads", exc)

    def dms(self, secret: str, ttl: float) -> list[dict[str, Any]] | None:
        """The tab's kept direct messages, oldest first, each once (a message to oneself is
        kept twice); None if Redis is unreachable."""
        key = DMS_PREFIX + _digest(secret)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.lrange(key, 0, -1)
            pipe.expire(key, int(ttl))
            raw, _ = pipe.execute()
        except self.errors as exc:
            self._unreachable("direct messages kept for reloads", exc)
            return None
        events: list[dict[str, Any]] = []
        seen: set[int] = set()
        for item in raw:
            event = json.loads(item)
            if event.get("id") and event["id"] in seen:
                continue
            seen.add(event.get("id") or 0)
            events.append(event)
        return events


_states: weakref.WeakKeyDictionary[Any, SharedChatState] = weakref.WeakKeyDictionary()


def shared_state(cluster: Any) -> SharedChatState | None:
    """The cluster's shared chat state (None in embedded mode: everything stays in memory)."""
    if cluster is None:
        return None
    if cluster not in _states:
        from sockets_core.redis_bus import CONNECTION_ERRORS  # only with --bus: it needs redis

        _states[cluster] = SharedChatState(cluster.bus.client, CONNECTION_ERRORS)
    return _states[cluster]
