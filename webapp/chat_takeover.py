"""A web chat nick taken back across instances (--bus): a tab that reconnects to another
instance finds its nick still held by its old connection there (the old instance notices a
dead socket only after --ws-idle-timeout). Its new instance asks on the cluster's control
topic; the instance holding the nick for the same client secret (compared as a SHA-256,
the secret itself never goes on the bus) drops that member and closes its old session,
and the new one claims the nick once the leave has reached it, waiting at most
TAKEOVER_WAIT. Nobody else's nick can be taken: the holder checks the secret.
"""

from __future__ import annotations

import hashlib
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any

import gevent

from sockets_core.chat.hub import ChatHub, Member

log = logging.getLogger(__name__)

KIND = "webchat-takeover"
TAKEOVER_WAIT = 2.0  # seconds a hello waits for another instance to free the nick
POLL = 0.05
_watchers: weakref.WeakKeyDictionary[ChatHub, gevent.Greenlet[Any, Any]] = weakref.WeakKeyDictionary()


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _control_topic() -> str:
    from sockets_core.cluster.shared import CONTROL_TOPIC  # only with --bus: it needs redis

    return CONTROL_TOPIC


def watch(bus: Any, hub: ChatHub, drop: Callable[[Member], None]) -> None:
    """Answer other instances' takeover requests for this hub's web members (one greenlet a hub)."""
    if hub in _watchers:
        return
    sub = bus.subscribe([_control_topic()], limit=100, name="web chat takeover")

    def run() -> None:
        while True:
            for _, item in sub.get_batch(timeout=None).items:
                if not isinstance(item, dict) or item.get("kind") != KIND or item.get("instance") == bus.instance:
                    continue
                member = hub.find(str(item.get("nick", "")))
                if (member is not None and member.transport == "web" and member.client
                        and secret_digest(member.client) == item.get("client")):
                    log.info("web chat: %s reconnected to instance %s: its session here is closed",
                             member.nick, item.get("instance"))
                    drop(member)  # its session, closed
                    hub.leave(member, time.time())  # the nick freed (leave and quit go round the cluster)
    _watchers[hub] = gevent.spawn(run)


def take_over(bus: Any, hub: ChatHub, nick: str, secret: str) -> bool:
    """Ask the instance holding ``nick`` for this secret to free it; True once it is free here."""
    holder = hub.lookup(nick)
    if holder is None:
        return True
    if holder.transport != "web" or hub.find(nick) is not None:  # not a tab, or this instance's own
        return False
    bus.publish(_control_topic(), {"kind": KIND, "nick": nick, "client": secret_digest(secret)})
    deadline = time.monotonic() + TAKEOVER_WAIT
    while time.monotonic() < deadline:
        gevent.sleep(POLL)
        if hub.lookup(nick) is None:
            return True
    return False
