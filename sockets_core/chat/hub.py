"""The chat hub: rooms, members of every transport, and every chat action through the bus.

How it works. A Member has a unique nick (across TCP, UDP and web, and across the instances
of a cluster: Presence.claim), a transport label, a current room (where its plain messages
go), the set of rooms it receives, and a ``deliver`` callable that must not block: the TCP
adapter queues bytes, the UDP adapter queues a datagram, a browser's WebSocket queues JSON
(an adapter with many members may take a room event for all of them at once: Fanout). The
hub changes its state, turns the action into one item on the bus (topic ``chat``, wire.py)
and drains its one subscription (delivery.py), which delivers each item to this instance's
members concerned and gives room messages to the history. Without a bus it makes a private
in-memory one, so there is one path. Time is passed in.

Members of other instances sit in the same room table (remote.py), from their membership
items; an instance that stops beating (Presence) is dropped by ``sweep``, and this
instance's members are told its members left. ``start`` runs the greenlets a cluster needs
(consumer, beat and sweep); the embedded default needs none (the in-memory bus delivers
during ``publish``).

Rooms are kept in a RoomTable (rooms.py): a room exists while it has members, and an
empty one stays listed for ``room_ttl`` seconds (the lobby always). Nothing a client does
grows without bound: rooms in total, rooms per client and the length of names are capped
(limits.py, budget.py), and the client is told which limit it hit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..bus import Bus, BusLike
from .budget import RoomBudget
from .delivery import CHAT_TOPIC, Delivery
from .events import ChatEvent
from .instances import Instances
from .limits import ChatLimits
from .member import Fanout, History, Member
from .names import ChatError, check_nick, check_room
from .presence import ID_SLOTS, MemoryPresence, Presence
from .remote import RemoteMembers
from .rooms import DEFAULT_ROOM, RoomTable
from .wire import to_wire, view_item

__all__ = ["CHAT_TOPIC", "DEFAULT_ROOM", "ChatError", "ChatEvent", "ChatHub", "Fanout", "History", "Member",
           "check_nick", "check_room"]


class ChatHub:
    def __init__(self, bus: BusLike | None = None, history: History | None = None,
                 limits: ChatLimits | None = None, presence: Presence | None = None,
                 instance: str | None = None) -> None:
        """``instance``: this hub's id (default: the bus's); tests give each hub of a shared
        in-memory bus its own."""
        self.instance = instance or (bus.instance if bus is not None else Bus().instance)
        self._bus: BusLike = bus if bus is not None else Bus(self.instance)
        self.history = history
        self.limits = limits or ChatLimits()
        self.members: dict[str, Member] = {}  # this instance's, by lower-cased nick
        self.room_table: RoomTable[Member] = RoomTable(self.limits.max_rooms, self.limits.room_ttl)
        self.budget = RoomBudget(self.room_table, self.limits)
        self.remote = RemoteMembers(self.room_table)
        self.presence: Presence = presence or MemoryPresence()
        self._slot = self.presence.slot(self.instance)
        self._counter = (history.last_id() if history is not None else 0) // ID_SLOTS
        self.delivery = Delivery(self, self._bus)
        self.instances = Instances(self, self._bus)
        if self._bus.state() != "local":
            self.start()

    @property
    def slot(self) -> int:
        return self._slot

    @slot.setter
    def slot(self, slot: int) -> None:
        self._slot = slot

    def _new_id(self, now: float) -> int:
        """The id of a new message: ``counter * ID_SLOTS + slot``. The counter is above every
        id so far, stored or not, and at least the time in ms, so ids keep rising across a
        restart (even one after a cleared history or a kill -9 that lost the last unsaved
        ids) and a browser never mistakes a new one for one it has; the slot (Presence) is
        this instance's alone, so two instances never draw the same id."""
        self._counter = max(self._counter + 1, int(now * 1000))
        return self._counter * ID_SLOTS + self._slot

    def _publish(self, event: ChatEvent, author: Member | None, **extra: Any) -> ChatEvent:
        self.delivery.publish(to_wire(event, self.instance, self.delivery.next_seq(), **extra), event, author)
        return event

    def publish_view(self, kind: str, **fields: Any) -> None:
        self.delivery.publish(view_item(kind, self.instance, self.delivery.next_seq(), **fields))

    def _event(self, kind: str, room: str, member: Member, text: str, now: float, **more: Any) -> ChatEvent:
        return ChatEvent(kind, room, member.nick, member.transport, text, now, instance=self.instance, **more)

    # -- membership ------------------------------------------------------------------------
    def find(self, nick: str) -> Member | None:
        """A member of this instance."""
        return self.members.get(nick.lower())

    def lookup(self, nick: str) -> Member | None:
        """A member of this instance or, as far as this one knows, of another."""
        return self.members.get(nick.lower()) or self.remote.find(nick)

    def _take_nick(self, nick: str) -> None:
        if self.lookup(nick) is not None or not self.presence.claim(nick, self.instance):
            raise ChatError(f"nick {nick} is taken")

    def join(self, member: Member, now: float, rooms: list[str] | None = None) -> None:
        """Add a member (its nick must be free) to ``rooms`` (default: its current room)."""
        check_nick(member.nick)
        self._take_nick(member.nick)
        self.members[member.nick.lower()] = member
        self.publish_view("member", nick=member.nick, transport=member.transport)
        for room in rooms or [member.room]:
            try:
                self.enter(member, room, now)
            except ChatError:
                self.leave(member, now)  # out of the rooms it did enter too: no ghost stays behind
                raise

    def _check_member(self, member: Member) -> None:
        if self.members.get(member.nick.lower()) is not member:
            raise ChatError("you are not in the chat")

    def default_nick(self, transport: str, address: str, port: int) -> str:
        """A native client's first nick: its ip:port, or (IPv6 addresses are too long for a
        nick) transport-port, made unique."""
        candidates = [address, f"{transport}-{port}"] + [f"{transport}-{port}-{i}" for i in range(2, 100)]
        for nick in candidates:
            try:
                check_nick(nick)
            except ChatError:
                continue
            if self.lookup(nick) is None and self.presence.claim(nick, self.instance):
                return nick
        return f"{transport}-{id(address) % 10**8}"

    def enter(self, member: Member, room: str, now: float, switching: bool = False) -> str:
        """Add ``member`` to ``room``, opening it if new; ChatError if a room limit forbids it."""
        self._check_member(member)
        room = check_room(room)
        self.expire(now)
        if room not in member.rooms:
            self.budget.check(member, room, switching, now)
            if room not in self.room_table:
                self.budget.open(member, room, now)
            member.rooms.add(room)
            self.room_table.add(room, member)
            self._publish(self._event("join", room, member, "", now), member)
        member.room = room
        return room

    def exit(self, member: Member, room: str, now: float) -> None:
        if room in member.rooms:
            member.rooms.discard(room)
            self.room_table.discard(room, member, now)
            self._publish(self._event("leave", room, member, "", now), member)

    def switch(self, member: Member, room: str, now: float) -> str:
        """A native client's /join: leave the rooms it was in, enter ``room``. A refused
        /join leaves the client where it was."""
        self._check_member(member)
        room = check_room(room)
        self.expire(now)
        if room not in member.rooms:
            self.budget.check(member, room, True, now)
        for old in sorted(member.rooms - {room}):
            self.exit(member, old, now)
        return self.enter(member, room, now, switching=True)

    def leave(self, member: Member, now: float) -> None:
        self.leave_all([member], now)

    def leave_all(self, members: list[Member], now: float) -> None:
        """Members leave the chat together (a service stopping, UDP peers expiring): each
        leave notice goes to those who stay, not to the others leaving too, so 1,500 UDP
        peers leaving at once cost 1,500 notices to the rest, not 1,500²."""
        notices, gone = [], []
        for member in members:
            if self.members.get(member.nick.lower()) is not member:
                continue
            for room in sorted(member.rooms):
                self.room_table.discard(room, member, now)
                notices.append(self._event("leave", room, member, "", now))
            member.rooms.clear()
            del self.members[member.nick.lower()]
            for room in member.opened:  # its budget goes with it; the rooms expire as usual
                self.room_table.disown(room)
            member.opened.clear()
            gone.append(member.nick)
        for notice in notices:
            self._publish(notice, None)
        for nick in gone:
            self.publish_view("quit", nick=nick)
            self.presence.release(nick, self.instance)

    def expire(self, now: float) -> None:
        """Forget the rooms empty for longer than ``room_ttl`` (their history stays stored)."""
        for room, opener in self.room_table.expire(now):
            if opener is not None:
                opener.opened.discard(room)

    def opened_rooms(self, member: Member) -> set[str]:
        return self.budget.opened_rooms(member)

    def rename(self, member: Member, nick: str, now: float) -> None:
        self._check_member(member)
        nick = check_nick(nick)
        old = member.nick
        if nick.lower() != old.lower():
            self._take_nick(nick)
        del self.members[old.lower()]
        member.nick = nick
        self.members[nick.lower()] = member
        if nick.lower() != old.lower():
            self.presence.release(old, self.instance)
        if old != nick:
            event = ChatEvent("nick", "", old, member.transport, "", now, to=nick, instance=self.instance)
            self._publish(event, member, rooms=sorted(member.rooms))

    # -- talking ---------------------------------------------------------------------------
    def say(self, member: Member, text: str, now: float, room: str | None = None, action: bool = False) -> ChatEvent:
        room = member.room if room is None else check_room(room)
        if room not in member.rooms:
            raise ChatError(f"you are not in #{room}")
        event = self._event("action" if action else "message", room, member, text, now, id=self._new_id(now))
        return self._publish(event, member)

    def direct(self, member: Member, to: str, text: str, now: float) -> ChatEvent:
        target = self.lookup(to)
        if target is None:
            raise ChatError(f"no one called {to} is here")
        return self._publish(self._event("dm", "", member, text, now, to=target.nick, id=self._new_id(now)), member)

    def clear(self, room: str, now: float) -> int:
        """Delete a room's history (admin; every instance clears its own) and tell its members."""
        room = check_room(room)
        removed = self.history.clear(room) if self.history is not None else 0
        self._publish(ChatEvent("clear", room, "admin", "web", "", now, instance=self.instance), None)
        return removed

    # -- looking ---------------------------------------------------------------------------
    def who(self, room: str) -> list[Member]:
        """Everyone in ``room``, on every instance."""
        return sorted(self.room_table.members(room), key=lambda m: m.nick.lower())

    def rooms(self) -> dict[str, int]:
        """Every listed room and its member count, by name (rebuilt only after a change)."""
        return self.room_table.counts()

    @property
    def rooms_version(self) -> int:
        """Changes whenever ``rooms()`` would: a room opened or closed, a count changed."""
        return self.room_table.version

    # -- the cluster (instances.py) ---------------------------------------------------------
    def on_view_item(self, item: dict[str, Any]) -> None:
        self.instances.on_view_item(item)

    def resync(self) -> None:
        self.instances.resync()

    def sweep(self, now: float) -> None:
        self.instances.sweep(now)

    def beat(self) -> None:
        self.instances.beat()

    def backfill(self, items: Iterable[dict[str, Any]]) -> int:
        return self.instances.backfill(items)

    def start(self) -> None:
        self.instances.start()

    def stop(self) -> None:
        self.instances.stop()
