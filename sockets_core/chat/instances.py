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
  history what the cluster said while this instance was away.

The embedded default runs none of this (``start`` is for a cluster bus): its one instance
has no one to sync with.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import gevent

from ..bus import BusLike
from .events import ChatEvent
from .presence import BEAT_INTERVAL, SWEEP_INTERVAL
from .wire import STORED_KINDS, from_wire

if TYPE_CHECKING:
    from .hub import ChatHub


class Instances:
    def __init__(self, hub: ChatHub, bus: BusLike) -> None:
        self.hub = hub
        self.bus = bus
        self._greenlets: list[gevent.Greenlet[..., Any]] = []
        self._bus_state = bus.state()

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
        history, recorded = self.hub.history, 0
        if history is None:
            return 0
        for item in items:
            kind = item.get("kind")
            if kind == "clear":
                history.clear(from_wire(item).room)
            elif kind in STORED_KINDS:
                history.add(from_wire(item))
                recorded += 1
        return recorded

    def start(self) -> None:
        """The greenlets of a cluster member: consume, beat, sweep (idempotent)."""
        if self._greenlets:
            return
        self.resync()
        self._greenlets = [gevent.spawn(self.hub.delivery.run), gevent.spawn(self._tick)]

    def _tick(self) -> None:
        since_beat = 0.0
        while True:
            gevent.sleep(SWEEP_INTERVAL)
            since_beat += SWEEP_INTERVAL
            if since_beat >= BEAT_INTERVAL:
                since_beat = 0.0
                self.beat()
            self.sweep(time.time())
            state = self.bus.state()
            if state != self._bus_state and state in ("connected", "local"):
                self.resync()  # what was published during the outage may not have gone out
            self._bus_state = state

    def stop(self) -> None:
        gevent.killall(self._greenlets, block=False)
        self._greenlets = []
        self.hub.delivery.sub.close()
        self.hub.presence.release_all(self.hub.instance)
