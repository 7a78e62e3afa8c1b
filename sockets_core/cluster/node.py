"""This instance as a member of a cluster (``--bus``; docs/cluster.md).

``Cluster.connect(settings)`` makes the Redis bus (sockets_core/redis_bus.py) and connects
it (BusUnavailable with one line to print when Redis cannot be reached), and the Redis
implementations of what instances share: presence (nick claims, liveness, id slots), the
admin token, the auto-response rules. ``attach(services)`` then starts what needs the
services: the instances registry (what each instance serves), the rules' watcher, and the
chat history backfill from the cluster's chat stream.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from ..bus import CLUSTER_TOPICS
from ..redis_bus import REDIS_ERRORS, BusUnavailable, RedisBus
from ..settings import Settings
from .instances import InstanceRegistry
from .packets import PACKET_BATCH_TOPIC
from .presence import RedisPresence
from .shared import AUTOREPLY_KEY, CONTROL_TOPIC, TOKEN_KEY, RedisAutoReplyStore, adopt_token
from .status import bus_status
from .syslog_share import SYSLOG_BATCH_TOPIC

log = logging.getLogger(__name__)

__all__ = ["CONTROL_TOPIC", "BusUnavailable", "Cluster", "bus_status"]

CHAT_TOPIC = "chat"
BACKFILL_MAX = 10_000  # chat stream entries read at start (the stream holds --bus-stream-max)


class Cluster:
    def __init__(self, settings: Settings, bus: RedisBus) -> None:
        self.settings = settings
        self.bus = bus
        self.presence = RedisPresence(bus.client)
        self.registry: InstanceRegistry | None = None
        self.autoreplies: RedisAutoReplyStore | None = None
        self.token: str | None = None

    @classmethod
    def connect(cls, settings: Settings, timeout: float = 5.0) -> Cluster:
        assert settings.bus is not None
        topics = CLUSTER_TOPICS | {CONTROL_TOPIC, PACKET_BATCH_TOPIC, SYSLOG_BATCH_TOPIC}
        bus = RedisBus(settings.bus, topics, instance=settings.instance_name,
                       stream_max=settings.bus_stream_max, out_queue=settings.bus_queue)
        try:
            bus.start(timeout)
        except BusUnavailable:
            bus.close()
            raise
        log.info("bus: %s, this instance is %s", bus.url_redacted, bus.instance)
        return cls(settings, bus)

    def adopt_token(self, token: str) -> str:
        """The cluster's admin token. An instance given ``--admin-token`` sets it (the way to
        rotate it); one without adopts the token the cluster has (or offers its own)."""
        explicit = self.settings.admin_token is not None
        self.token = adopt_token(self.bus.client, token, self.bus.instance, replace=explicit)
        return self.token

    def _restore(self, pipe: Any) -> None:
        """With each beat: a Redis restarted without its data gets the token and rules back."""
        if self.token is not None:  # NX: a token another instance set since (a rotation) stays
            pipe.set(TOKEN_KEY, self.token, nx=True)
        if self.autoreplies is not None:
            pipe.set(AUTOREPLY_KEY, json.dumps(self.autoreplies.snapshot(), ensure_ascii=False), nx=True)

    def autoreply_store(self, services: tuple[str, ...]) -> RedisAutoReplyStore:
        self.autoreplies = RedisAutoReplyStore(services, self.bus.client, self.bus, self.settings.data)
        return self.autoreplies

    def attach(self, version: str, describe: Callable[[], dict[str, Any]], backfill: Callable[[Any], int]) -> None:
        """Start the instances registry (``describe``: what this instance serves now), the
        auto-response watcher, and give ``backfill`` what the cluster said in its chat stream."""
        self.registry = InstanceRegistry(self.bus.client, self.bus.instance, version, describe,
                                         restore=self._restore)
        self.registry.start()
        if self.autoreplies is not None:
            self.autoreplies.watch()
        try:
            entries = self.bus.history(CHAT_TOPIC, min(BACKFILL_MAX, self.settings.bus_stream_max))
        except REDIS_ERRORS as exc:
            log.warning("cluster: chat history not backfilled from Redis: %s", exc)
            return
        recorded = backfill(item for _, item in entries)  # bad entries: skipped by history(), warned
        log.info("cluster: %d chat messages of the cluster's stream recorded in the history", recorded)

    def status(self) -> dict[str, Any]:
        return bus_status(self.bus, self)

    def close(self) -> None:
        if self.registry is not None:
            self.registry.stop()
        if self.autoreplies is not None:
            self.autoreplies.stop()
        self.bus.close()
