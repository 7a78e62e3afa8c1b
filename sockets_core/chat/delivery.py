"""The hub's one bus subscription: every chat item of every instance in, each event out to
this instance's members concerned.

The hub publishes each action as an item (wire.py) and then drains its subscription: on
the in-memory bus the item is already there, so the embedded chat delivers during the call
as it always did (one queue hop per event, not per member); on Redis it comes back later
and the consumer greenlet (``run``) delivers it. Either way one code path: room events to
the room's local members but their author, a nick change to the members of its rooms, a
direct message to its recipient if it is here; room messages go to the history as they are
consumed, so every instance's history holds every instance's messages.

Never twice: an item whose ``seq`` is not above the last one consumed from its instance is
dropped (bounded: one number per instance). An own item comes back as the very ChatEvent
the hub returned to its caller (its renderings cached once) with its author, so the author
is skipped even if it was renamed meanwhile.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..bus import BusLike
from ..logthrottle import ThrottledWarning
from .events import ChatEvent
from .limits import WARNING_INTERVAL
from .member import Fanout, Member
from .wire import STORED_KINDS, VIEW_KINDS, from_wire

if TYPE_CHECKING:
    from .hub import ChatHub

log = logging.getLogger(__name__)

CHAT_TOPIC = "chat"
HUB_QUEUE = 100_000  # chat items waiting for this instance's hub (all instances' talk): then the oldest go
OWN_PENDING = 10_000  # own items published and not yet back from the bus (remembered with their author)
INSTANCES_REMEMBERED = 4_096  # instances whose last item number is kept for the no-doubles check


class Delivery:
    def __init__(self, hub: ChatHub, bus: BusLike) -> None:
        self.hub = hub
        self.bus = bus
        self.sub = bus.subscribe([CHAT_TOPIC], limit=HUB_QUEUE, name="chat hub")
        self.seq = time.time_ns() // 1000  # rises across restarts of an instance of the same name
        self._last_seq: dict[str, int] = {}  # instance -> the seq of its last item consumed
        self._own: dict[int, tuple[ChatEvent, Member | None]] = {}  # seq -> what say() returned, its author
        self._draining = False
        self._warnings = ThrottledWarning(log, WARNING_INTERVAL)
        self.lost = 0  # items this instance's members never got (queue overflow, malformed)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def publish(self, item: dict[str, Any], event: ChatEvent | None = None, author: Member | None = None) -> None:
        """Publish an own item (``event``: the ChatEvent it shows) and deliver what is waiting."""
        if event is not None:
            self._own[item["seq"]] = (event, author)
            if len(self._own) > OWN_PENDING:  # the bus lost some: forget the oldest
                del self._own[next(iter(self._own))]
        self.bus.publish(CHAT_TOPIC, item)
        self.drain()

    def drain(self) -> None:
        """Consume what is waiting, without waiting (re-entry from a delivery: the outer
        call goes on with what the inner one added)."""
        if self._draining:
            return
        self._draining = True
        try:
            while self.sub.pending():  # get_batch with items waiting never yields
                self._consume_batch(self.sub.get_batch())
        finally:
            self._draining = False

    def run(self) -> None:
        """The consumer greenlet: items published by other instances (and, on Redis, ours)."""
        while not self.sub.closed:
            self.sub.wait()
            self.drain()

    def _consume_batch(self, batch: Any) -> None:
        if batch.dropped:
            self.lost += batch.dropped
            self._warnings.warn("chat: %d chat items were dropped before this instance's members got them "
                                "(hub queue limit %d): the instance is too slow for the cluster's chat",
                                batch.dropped, HUB_QUEUE, key="hub-queue")
        for _, item in batch.items:
            try:
                self.consume(item)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.lost += 1
                self._warnings.warn("chat: a malformed chat item from the bus skipped (%s: %s)",
                                    type(exc).__name__, exc, key="malformed")

    def consume(self, item: dict[str, Any]) -> None:
        instance, seq = item["instance"], item["seq"]
        last = self._last_seq.get(instance)
        if last is not None and seq <= last:
            return  # had it: never twice
        self._last_seq[instance] = seq
        if last is None and len(self._last_seq) > INSTANCES_REMEMBERED:
            del self._last_seq[next(iter(self._last_seq))]  # the instance heard from first
        hub = self.hub
        own = instance == hub.instance
        kind = item["kind"]
        if kind in VIEW_KINDS:
            if not own:
                hub.on_view_item(item)
            return
        remembered = self._own.pop(seq, None) if own else None
        if remembered is not None:
            event, author = remembered
        else:
            event = from_wire(item)
            author = hub.members.get((event.to if kind == "nick" else event.nick).lower()) if own else None
        if not own:
            hub.remote.apply(event, event.time)
        if hub.history is not None:
            if kind in STORED_KINDS:
                hub.history.add(event)
            elif kind == "clear" and not own:
                hub.history.clear(event.room)
        rooms = item.get("rooms") if kind == "nick" else None
        self.deliver_local(event, author, set(rooms) if isinstance(rooms, list) else None)

    def deliver_local(self, event: ChatEvent, author: Member | None, rooms: set[str] | None = None) -> None:
        """Give an event to this instance's members concerned (never to ``author``)."""
        hub = self.hub
        if event.kind == "dm":
            target = hub.members.get(event.to.lower())
            if target is not None:
                target.deliver(event)
            return
        if event.kind == "nick":  # a member in several of the rooms hears it once
            targets = list(dict.fromkeys(m for room in sorted(rooms or ()) for m in hub.room_table.members(room)))
        else:
            targets = hub.room_table.members(event.room)
        bulk: dict[Fanout, list[Member]] = {}
        for member in targets:
            if member is author:  # (members of other instances: their fanout does nothing)
                continue
            if member.fanout is None:
                member.deliver(event)
            elif member.fanout in bulk:
                bulk[member.fanout].append(member)
            else:
                bulk[member.fanout] = [member]
        for fanout, members in bulk.items():
            fanout.deliver_many(event, members)
