"""The chat hub's life among other instances: rosters, beats, and dropping dead instances.

- ``resync`` (at start, and when the bus is back after an outage) publishes this
  instance's roster and a ``hello``; every other instance answers ``hello`` with its own
  roster, and a roster replaces the view of its instance (remote.py), with join/leave
  notices to this instance's members for what changed. So an instance that starts late
  learns who is where, and one that restarts is cleared of its old members everywhere.
- ``beat`` (every BEAT_INTERVAL) tells Presence this instance is alive; ``sweep`` (every
  SWEEP_INTERVAL) drops the members of instances that are not, and tells this instance's
  members they left. Each instance tells only its own members: nobody hears it twice.
- ``backfill``: the hook a bus with a stream (Redis) uses at start to record in the
  history what the cluster said while this instance was away. A ``clear`` in the stream
  drops the room's messages before it in the stream, never the local history: the
  instance cleared its own when the clear happened if it ran then, and a clear replayed at
  every start would delete what was said here since and never reached the stream.
- No greenlet dies silently: each loop runs under cluster/loops.py's net, and each step of
  the tick (beat, sweep, resync) is guarded so one failing does not stop the others.

The embedded default runs none of this (``start`` is for a cluster bus): its one instance
has no one to sync with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import gevent

from ..bus import BusLike
from ..cluster.loops import spawn_forever
from ..logthrottle import ThrottledWarning
from .events import ChatEvent
from .presence import BEAT_INTERVAL, SWEEP_INTERVAL
from .wire import STORED_KINDS, from_wire

if TYPE_CHECKING:
    from .hub import ChatHub

log = logging.getLogger(__name__)

# what one bad item or one failing Redis round trip raises: skipped or retried, never fatal
ITEM_ERRORS = (KeyError, TypeError, ValueError, AttributeError)


class Instances:
    def __init__(self, hub: ChatHub, bus: BusLike) -> None:
        self.hub = hub
        self.bus = bus
        self._greenlets: list[gevent.Greenlet[..., Any]] = []
        self._bus_state = bus.state()
        self._warnings = ThrottledWarning(log)
        self.bad_backfill = 0  # stream items backfill skipped (not chat items)

    def on_view_item(self, item: dict[str, Any]) -> None:
        """A membership item of another instance (delivery.py hands it over)."""
        kind, instance = item["kind"], str(item["instance"])
        if kind in ("member", "quit"):
            self.hub.remote.apply(from_wire(item), time.time())
        elif kind == "hello":
            self._publish_roster()
        elif kind == "roster" and isinstance(item.get("members"), list):
            self._tell_local(self.hub.remote.replace(instance, item["members"], time.time()))

    def _publish_roster(self) -> None:
        self.hub.publish_view("roster", members=[m.roster_entry() for m in self.hub.members.values()])

    def _tell_local(self, notices: list[ChatEvent]) -> None:
        for notice in notices:
            self.hub.delivery.deliver_local(notice, None)

    def resync(self) -> None:
        """Tell the cluster who is here and ask for everyone's members."""
        self._publish_roster()
        self.hub.publish_view("hello")

    def sweep(self, now: float) -> None:
        """Drop the members of instances no longer alive; tell this instance's members."""
        for instance in self.hub.remote.instances():
            if instance != self.hub.instance and not self.hub.presence.alive(instance):
                self._tell_local(self.hub.remote.replace(instance, [], now))

    def beat(self) -> None:
        self.hub.presence.beat(self.hub.instance)
        self.hub.slot = self.hub.presence.slot(self.hub.instance)  # another one if it was lost meanwhile

    def backfill(self, items: Iterable[dict[str, Any]]) -> int:
        """Record in the history the room messages (and clears) of ``items``, oldest first.
        Stored ids are kept as they are, so a replay stores nothing twice. Returns how many
        messages were recorded."""
        history = self.hub.history
        if history is None:
            return 0
        stored: list[ChatEvent] = []
        for item in items:
            try:
                kind = item.get("kind")
                if kind == "clear":
                    room = from_wire(item).room
                    stored = [event for event in stored if event.room != room]  # cleared before we read them
                elif kind in STORED_KINDS:
                    stored.append(from_wire(item))
            except ITEM_ERRORS as exc:
                self.bad_backfill += 1
                self._warnings.warn("chat: a malformed item of the cluster's chat stream not backfilled (%s: %s)",
                                    type(exc).__name__, exc, key="backfill")
        for event in stored:
            history.add(event)
        return len(stored)

    def start(self) -> None:
        """The greenlets of a cluster member: consume, beat, sweep (idempotent)."""
        if self._greenlets:
            return
        self.resync()
        delivery = self.hub.delivery
        self._greenlets = [spawn_forever("chat delivery", delivery.run, lambda: not delivery.sub.closed),
                           spawn_forever("chat tick", self._tick)]

    def _tick(self) -> None:
        since_beat = 0.0
        while True:
            gevent.sleep(SWEEP_INTERVAL)
            since_beat += SWEEP_INTERVAL
            if since_beat >= BEAT_INTERVAL:
                since_beat = 0.0
                self._step("beat", self.beat)
            self._step("sweep", lambda: self.sweep(time.time()))
            state = self.bus.state()
            if state != self._bus_state and state in ("connected", "local"):
                self._step("resync", self.resync)  # what was published during the outage may not have gone out
            self._bus_state = state

    def _step(self, name: str, step: Any) -> None:
        """One step of the tick; its failure (a Redis that refuses, no free id slot) is logged,
        throttled, and the next tick tries again."""
        try:
            step()
        except Exception as exc:  # the net of one step: the others (and the next tick) go on
            self._warnings.warn("chat: the cluster %s failed (%s: %s); trying again next tick", name,
                                type(exc).__name__, exc, key=name)

    def stop(self) -> None:
        gevent.killall(self._greenlets, block=False)
        self._greenlets = []
        self.hub.delivery.sub.close()
        self.hub.presence.release_all(self.hub.instance)
