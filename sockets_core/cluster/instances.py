"""Which sockdash instances share this Redis: each one's id, host, pid, version, services and
ports, when it started and when it last beat (shown in /api/status and on the Home page).

Each instance writes its record as JSON under ``sockdash:instance:<id>`` with a TTL of
``INSTANCE_TTL`` seconds and rewrites it every ``INSTANCE_BEAT`` seconds (a greenlet), so a
kill -9'd instance drops out of the list within INSTANCE_TTL; a stopped one deletes its key.
The list is read with SCAN (a cluster has a handful of instances, not thousands) and cached
for one beat, so a busy status page costs Redis one SCAN per beat, not one per request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent

from ..redis_bus import KEY_PREFIX, REDIS_ERRORS
from .loops import spawn_forever

log = logging.getLogger(__name__)

INSTANCE_PREFIX = KEY_PREFIX + "instance:"
INSTANCE_BEAT = 3.0  # seconds between two writes of an instance's record
INSTANCE_TTL = 10.0  # seconds a record outlives its last write
MAX_LISTED = 256  # instances read per listing: the status document stays small


class InstanceRegistry:
    """This instance's record in Redis, and everyone's. ``describe`` returns what this instance
    serves now (services and ports change as they start and stop)."""

    def __init__(self, client: Any, instance: str, version: str, describe: Callable[[], dict[str, Any]],
                 beat: float = INSTANCE_BEAT, ttl: float = INSTANCE_TTL,
                 restore: Callable[[Any], None] | None = None) -> None:
        """``restore(pipeline)``: queued with each beat, to put back what a Redis that restarted
        empty lost (the shared token and rules: SET NX)."""
        self.restore = restore
        self.client = client
        self.instance = instance
        self.version = version
        self.describe = describe
        self.beat_interval = beat
        self.ttl = ttl
        self.started = time.time()
        self._cache: tuple[float, list[dict[str, Any]]] = (float("-inf"), [])
        self._greenlet: gevent.Greenlet[Any, Any] | None = None

    def record(self) -> dict[str, Any]:
        return {"id": self.instance, "host": socket.gethostname(), "pid": os.getpid(), "version": self.version,
                "started": self.started, "last_beat": time.time(), **self.describe()}

    def beat(self) -> bool:
        """Write this instance's record; whether Redis took it."""
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(INSTANCE_PREFIX + self.instance, json.dumps(self.record()), px=int(self.ttl * 1000))
            if self.restore is not None:
                self.restore(pipe)
            pipe.execute()
        except REDIS_ERRORS as exc:
            log.debug("cluster: instance record not written: %s", exc)
            return False
        self._cache = (float("-inf"), [])
        return True

    def start(self) -> None:
        self.beat()

        def run() -> None:
            while True:
                gevent.sleep(self.beat_interval)
                self.beat()
        self._greenlet = spawn_forever("instance record", run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        with contextlib.suppress(*REDIS_ERRORS):  # else it expires within the TTL
            self.client.delete(INSTANCE_PREFIX + self.instance)

    def instances(self) -> list[dict[str, Any]]:
        """Every live instance's record, this one first, then by start time; during an outage
        the last list read (this instance's record refreshed)."""
        read_at, cached = self._cache
        if time.monotonic() - read_at < self.beat_interval:
            return cached
        try:
            keys = []
            for key in self.client.scan_iter(match=INSTANCE_PREFIX + "*", count=100):
                keys.append(key)
                if len(keys) >= MAX_LISTED:
                    break
            records = [json.loads(raw) for raw in self.client.mget(keys) if raw] if keys else []
        except REDIS_ERRORS as exc:
            log.debug("cluster: instances not listed: %s", exc)
            mine = self.record()
            return [mine, *(r for r in cached if r.get("id") != self.instance)]
        except (ValueError, TypeError):  # a record that is not ours: the list is read again next beat
            records = []
        records = [r for r in records if isinstance(r, dict)]
        records.sort(key=lambda r: (r.get("id") != self.instance, r.get("started", 0)))
        if not any(r.get("id") == self.instance for r in records):
            records.insert(0, self.record())
        self._cache = (time.monotonic(), records)
        return records
