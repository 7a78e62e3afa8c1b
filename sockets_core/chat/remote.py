"""The members of the other instances, as this instance knows them from the bus.

Each remote member is a Member with ``instance`` set and a ``deliver`` that does nothing
(its own instance delivers to it); it sits in this instance's RoomTable like a local one,
so /names, /who, the room list and member counts, room budgets and the web's member lists
see the whole cluster without a second code path. The view changes only through items
consumed from the bus (wire.py): ``join``/``leave``/``nick``/``member``/``quit`` one at a
time, a ``roster`` all at once; and when an instance is no longer alive (Presence) its
members are dropped. Those two return the notices this instance must give its own members
("alice joined #lab", "alice left #lab"): each instance tells only its own members, so
nobody hears it twice.
"""

from __future__ import annotations

from typing import Any

from .events import ChatEvent
from .member import Member
from .rooms import RoomTable

MAX_ROSTER = 100_000  # members in one roster item that are looked at (a bigger one is cut: logged by the hub)


def _no_delivery(event: ChatEvent) -> None:
    """A remote member's events go out from its own instance."""


class _TheirOwnInstance:
    """The Fanout of remote members: takes their share of a room event and does nothing
    (their instance delivers it). As a Fanout, the delivery loop needs no check per member."""

    def deliver_many(self, event: ChatEvent, members: list[Member]) -> None:
        pass


THEIR_OWN_INSTANCE = _TheirOwnInstance()


class RemoteMembers:
    def __init__(self, room_table: RoomTable[Member]) -> None:
        self.room_table = room_table
        self._by_instance: dict[str, dict[str, Member]] = {}  # instance -> lower-cased nick -> member

    def __len__(self) -> int:
        return sum(len(members) for members in self._by_instance.values())

    def instances(self) -> list[str]:
        return list(self._by_instance)

    def members_of(self, instance: str) -> list[Member]:
        return list(self._by_instance.get(instance, {}).values())

    def find(self, nick: str) -> Member | None:
        key = nick.lower()
        for members in self._by_instance.values():
            if key in members:
                return members[key]
        return None

    # -- one item at a time ------------------------------------------------------------------
    def apply(self, event: ChatEvent, now: float) -> None:
        """What a shown or view item of another instance changes in the view."""
        kind, instance = event.kind, event.instance
        if kind in ("member", "join"):
            added = self._get_or_add(instance, event.nick, event.transport)
            if kind == "join":
                self._enter(added, event.room)
            return
        members = self._by_instance.get(instance, {})
        found = members.get(event.nick.lower())
        if found is None:
            return
        if kind == "leave":
            found.rooms.discard(event.room)
            self.room_table.discard(event.room, found, now)
        elif kind == "nick":
            del members[event.nick.lower()]
            found.nick = event.to
            members[event.to.lower()] = found
        elif kind == "quit":
            del members[event.nick.lower()]
            self._drop(found, now)
            if not members:
                del self._by_instance[instance]

    # -- an instance at once -----------------------------------------------------------------
    def replace(self, instance: str, roster: list[dict[str, Any]], now: float) -> list[ChatEvent]:
        """The whole membership of ``instance`` (its roster; [] when it is gone). Returns the
        join and leave notices for this instance's members: what changed."""
        old = self._by_instance.pop(instance, {})
        before = {(m.nick, m.transport, room) for m in old.values() for room in m.rooms}
        for member in old.values():
            self._drop(member, now)
        for entry in roster[:MAX_ROSTER]:
            if not isinstance(entry, dict):
                continue
            member = self._get_or_add(instance, str(entry.get("nick", "")), str(entry.get("transport", "")))
            rooms = entry.get("rooms")
            for room in rooms if isinstance(rooms, list) else []:
                self._enter(member, str(room))
        if not self._by_instance.get(instance, True):
            del self._by_instance[instance]
        after = {(m.nick, m.transport, room) for m in self.members_of(instance) for room in m.rooms}
        notices = [ChatEvent("leave", room, nick, transport, "", now, instance=instance)
                   for nick, transport, room in sorted(before - after)]
        notices += [ChatEvent("join", room, nick, transport, "", now, instance=instance)
                    for nick, transport, room in sorted(after - before)]
        return notices

    def _get_or_add(self, instance: str, nick: str, transport: str) -> Member:
        members = self._by_instance.setdefault(instance, {})
        member = members.get(nick.lower())
        if member is None:
            member = Member(nick, transport, _no_delivery, fanout=THEIR_OWN_INSTANCE, instance=instance)
            members[nick.lower()] = member
        return member

    def _enter(self, member: Member, room: str) -> None:
        if not room or room in member.rooms:
            return
        self.room_table.adopt(room)
        member.rooms.add(room)
        self.room_table.add(room, member)

    def _drop(self, member: Member, now: float) -> None:
        for room in sorted(member.rooms):
            self.room_table.discard(room, member, now)
        member.rooms.clear()
