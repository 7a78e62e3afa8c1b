"""What a cluster shares besides the bus: the admin token and the auto-response rules.

- The admin token: the first instance to start puts its token in Redis (``SET NX``) and every
  later one adopts it, so one token opens every instance's admin pages.
- The auto-response rules live under one Redis key (all services' rules as one JSON value:
  a reader never sees half a change); a change is announced on the cluster's control topic
  and every other instance reloads them. The first instance with rules of its own (its
  ``autoreply.json``) seeds the key when it is empty.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import gevent

from ..autoreply_store import AutoReplyStore, FileAutoReplyStore, StoredRules
from ..bus import BusLike
from ..redis_bus import KEY_PREFIX, REDIS_ERRORS
from .loops import spawn_forever

log = logging.getLogger(__name__)

TOKEN_KEY = KEY_PREFIX + "admin-token"
AUTOREPLY_KEY = KEY_PREFIX + "autoreply"
CONTROL_TOPIC = "cluster"  # the cluster's own announcements (a cluster topic of the Redis bus)


def adopt_token(client: Any, token: str, instance: str = "", replace: bool = False) -> str:
    """The cluster's admin token. ``replace`` (the instance was given ``--admin-token``):
    ``token`` becomes the cluster's (SET; a WARNING when it replaced another), which is how
    an operator rotates it. Else: ``token`` if the cluster has none yet, else the cluster's."""
    if replace:
        previous = client.set(TOKEN_KEY, token, get=True)
        if previous is not None and previous != token:
            log.warning("cluster: admin token of the cluster replaced by instance %s (--admin-token)", instance)
        return token
    client.set(TOKEN_KEY, token, nx=True)
    shared = str(client.get(TOKEN_KEY))
    if shared != token:
        log.info("cluster: using the cluster's admin token (this instance was given none)")
    return shared


class RedisAutoReplyStore(AutoReplyStore):
    def __init__(self, services: Iterable[str], client: Any, bus: BusLike, data_dir: Path) -> None:
        super().__init__(services)
        self.client = client
        self.bus = bus
        self._seed = FileAutoReplyStore(services, data_dir)  # this instance's rules before the cluster
        self._watcher: gevent.Greenlet[Any, Any] | None = None

    def _read(self) -> Mapping[str, list[dict[str, Any]]] | None:
        raw = self.client.get(AUTOREPLY_KEY)
        if raw is None:
            local = self._seed._read()
            if local is None:
                return None
            self.client.set(AUTOREPLY_KEY, json.dumps(local, ensure_ascii=False), nx=True)
            raw = self.client.get(AUTOREPLY_KEY)
        stored = json.loads(raw)
        if not isinstance(stored, dict):
            raise ValueError("not a JSON object of service -> rules")
        return stored

    def _write(self, stored: StoredRules) -> None:
        try:
            self.client.set(AUTOREPLY_KEY, json.dumps(stored, ensure_ascii=False))
        except REDIS_ERRORS as exc:
            log.warning("cluster: auto-responses changed on this instance only: Redis did not take them (%s)", exc)
            return
        self.bus.publish(CONTROL_TOPIC, {"kind": "autoreply", "instance": self.bus.instance})

    def where(self) -> str:
        return f"Redis key {AUTOREPLY_KEY}"

    def watch(self) -> None:
        """Reload the rules whenever another instance announces a change (a greenlet)."""
        sub = self.bus.subscribe([CONTROL_TOPIC], limit=100, name="cluster autoreply")

        def run() -> None:
            while not sub.closed:
                batch = sub.get_batch(timeout=None)
                if any(isinstance(item, dict) and item.get("kind") == "autoreply"
                       and item.get("instance") != self.bus.instance for _, item in batch.items) or batch.dropped:
                    self.reload()
        self._watcher = spawn_forever("auto-response watcher", run, lambda: not sub.closed)

    def reload(self) -> None:
        """load(), with a Redis that refuses logged (throttled by the watcher's net) rather than fatal."""
        try:
            self.load()
        except REDIS_ERRORS as exc:
            log.warning("cluster: auto-responses not reloaded from Redis: %s", exc)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.kill(block=False)
