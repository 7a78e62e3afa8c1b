"""The chat hub: rooms, members of every transport, and fan-out of events.

How it works. A Member has a unique nick (across TCP, UDP and web), a transport label,
a current room (where its plain messages go), the set of rooms it receives, and a
``deliver`` callable that must not block: the TCP adapter queues bytes, the UDP adapter
queues a datagram, a browser's WebSocket queues JSON (an adapter with many members may
take a room event for all of them at once: Fanout). The hub turns every action into
one ChatEvent and hands it to each member concerned; it also publishes it on the bus
(topic ``chat``) and gives room messages to the history. Time is passed in.

Rooms are kept in a RoomTable (rooms.py): a room exists while it has members, and an
empty one stays listed for ``room_ttl`` seconds (the lobby always). Nothing a client does
grows without bound: rooms in total, rooms per client and the length of names are capped
(limits.py), and the client is told which limit it hit. An expired room loses nothing:
its history is in the history store, keyed by name, and comes back when it is re-opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..bus import Bus
from ..logthrottle import ThrottledWarning
from ..privacy import PrivateSpans
from ..textcodec import UTF8
from .events import ChatEvent
from .limits import WARNING_INTERVAL, ChatLimits
from .names import ChatError, check_nick, check_room
from .rooms import DEFAULT_ROOM, RoomLimitError, RoomTable

__all__ = ["CHAT_TOPIC", "DEFAULT_ROOM", "ChatError", "ChatEvent", "ChatHub", "Fanout", "History", "Member",
           "check_nick", "check_room"]

log = logging.getLogger(__name__)

CHAT_TOPIC = "chat"


class Fanout(Protocol):
    """An adapter that delivers one event to many of its members in one call (the UDP
    server: one queue entry per event instead of one per peer)."""

    def deliver_many(self, event: ChatEvent, members: list[Member]) -> None: ...


class History(Protocol):
    def add(self, event: ChatEvent) -> None: ...

    def clear(self, room: str) -> int: ...

    def last_id(self) -> int: ...


@dataclass(eq=False)
class Member:
    nick: str
    transport: str
    deliver: Callable[[ChatEvent], None]
    room: str = DEFAULT_ROOM
    rooms: set[str] = field(default_factory=set)
    opened: set[str] = field(default_factory=set)  # rooms it created that still exist (its room budget)
    fanout: Fanout | None = None  # if set, room events reach it through fanout.deliver_many
    # what the adapters keep per member
    address: str = ""  # its address as shown ("10.0.0.7:5000"): named in the chat's limit warnings
    encoding: str = UTF8  # what a native client last wrote in: its lines go out in it
    client: str = ""  # web: the browser's client secret, which alone may take the nick back after a reload
    private_out: PrivateSpans | None = None  # TCP: which of its queued bytes carry direct messages
    last_seen: float = 0.0  # UDP: when it last sent (the server's monotonic clock), for the peer TTL
    sockaddr: tuple | None = None  # type: ignore[type-arg]  # UDP: where its datagrams go
    gone: bool = False  # UDP: expired or left; what is still queued for it is not sent

    @property
    def peer(self) -> str:
        return self.address or self.nick


class ChatHub:
    def __init__(self, bus: Bus | None = None, history: History | None = None,
                 limits: ChatLimits | None = None) -> None:
        self._bus = bus
        self.history = history
        self.limits = limits or ChatLimits()
        self.members: dict[str, Member] = {}  # by lower-cased nick
        self.room_table: RoomTable[Member] = RoomTable(self.limits.max_rooms, self.limits.room_ttl)
        self._warnings = ThrottledWarning(log, WARNING_INTERVAL)
        self._last_id = history.last_id() if history is not None else 0

    def _new_id(self, now: float) -> int:
        """The id of a new message: above every id so far, stored or not, and at least the
        time in ms, so ids keep rising across a restart (even one after a cleared history or
        a kill -9 that lost the last unsaved ids) and a browser never mistakes a new one for
        one it has."""
        self._last_id = max(self._last_id + 1, int(now * 1000))
        return self._last_id

    # -- membership ------------------------------------------------------------------------
    def find(self, nick: str) -> Member | None:
        return self.members.get(nick.lower())

    def join(self, member: Member, now: float, rooms: list[str] | None = None) -> None:
        """Add a member (its nick must be free) to ``rooms`` (default: its current room)."""
        check_nick(member.nick)
        if member.nick.lower() in self.members:
            raise ChatError(f"nick {member.nick} is taken")
        self.members[member.nick.lower()] = member
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
            if self.find(nick) is None:
                return nick
        return f"{transport}-{id(address) % 10**8}"

    def enter(self, member: Member, room: str, now: float, switching: bool = False) -> str:
        """Add ``member`` to ``room``, opening it if new; ChatError if a room limit forbids it."""
        self._check_member(member)
        room = check_room(room)
        self.expire(now)
        if room not in member.rooms:
            self._check_budget(member, room, switching, now)
            if room not in self.room_table:
                self._open(member, room, now)
            member.rooms.add(room)
            self.room_table.add(room, member)
            self._emit(ChatEvent("join", room, member.nick, member.transport, "", now), member)
        member.room = room
        return room

    def exit(self, member: Member, room: str, now: float) -> None:
        if room in member.rooms:
            member.rooms.discard(room)
            self.room_table.discard(room, member, now)
            self._emit(ChatEvent("leave", room, member.nick, member.transport, "", now), member)

    def switch(self, member: Member, room: str, now: float) -> str:
        """A native client's /join: leave the rooms it was in, enter ``room``. A refused
        /join leaves the client where it was."""
        self._check_member(member)
        room = check_room(room)
        self.expire(now)
        if room not in member.rooms:
            self._check_budget(member, room, True, now)
        for old in sorted(member.rooms - {room}):
            self.exit(member, old, now)
        return self.enter(member, room, now, switching=True)

    def leave(self, member: Member, now: float) -> None:
        self.leave_all([member], now)

    def leave_all(self, members: list[Member], now: float) -> None:
        """Members leave the chat together (a service stopping, UDP peers expiring): each
        leave notice goes to those who stay, not to the others leaving too, so 1,500 UDP
        peers leaving at once cost 1,500 notices to the rest, not 1,500²."""
        notices = []
        for member in members:
            if self.members.get(member.nick.lower()) is not member:
                continue
            for room in sorted(member.rooms):
                self.room_table.discard(room, member, now)
                notices.append(ChatEvent("leave", room, member.nick, member.transport, "", now))
            member.rooms.clear()
            del self.members[member.nick.lower()]
            for room in member.opened:  # its budget goes with it; the rooms expire as usual
                self.room_table.disown(room)
            member.opened.clear()
        for notice in notices:
            self._emit(notice, None)

    def expire(self, now: float) -> None:
        """Forget the rooms empty for longer than ``room_ttl`` (their history stays stored)."""
        for room, opener in self.room_table.expire(now):
            if opener is not None:
                opener.opened.discard(room)

    # -- room limits -------------------------------------------------------------------------
    def opened_rooms(self, member: Member) -> set[str]:
        """The rooms it opened that no one else is in: they count against its budget until
        they close (``room_ttl`` after the last one leaves) or someone else comes."""
        return {r for r in member.opened if self.room_table.members_other_than(r, member) == 0}

    def _check_budget(self, member: Member, room: str, switching: bool, now: float) -> None:
        """A client is in at most ``rooms_per_client`` rooms and has at most as many open
        that it opened; a new room needs space in the table. ChatError says which bit."""
        cap = self.limits.rooms_per_client
        if not switching and len(member.rooms) >= cap:
            self._refuse(member, room, now, f"is in {len(member.rooms)} rooms (limit {cap})",
                         f"you are in {len(member.rooms)} rooms, the limit; leave one first")
        if room in self.room_table:
            return
        opened = self.opened_rooms(member)
        if len(opened) >= cap:
            self._refuse(member, room, now, f"opened {len(opened)} rooms still open (limit {cap})",
                         f"you opened {len(opened)} rooms that are still open, the limit (a room closes "
                         f"{self.limits.room_ttl:.0f} s after the last one leaves it); join an existing room "
                         "or wait")
        leaving_frees_one = switching and any(
            r != DEFAULT_ROOM and self.room_table.members_other_than(r, member) == 0 for r in member.rooms)
        if not self.room_table.has_space() and not leaving_frees_one:
            self._refuse(member, room, now, f"found all {len(self.room_table)} rooms (limit) in use",
                         f"the chat has {len(self.room_table)} rooms, the limit, and none is empty: "
                         "join an existing room")

    def _refuse(self, member: Member, room: str, now: float, logged: str, told: str) -> None:
        self._warnings.warn("chat: %s (%s) %s: refused #%s", member.peer, member.nick, logged, room,
                            key=logged.split(" ", 1)[0] + ":" + member.peer, now=now)
        raise ChatError(told)

    def _open(self, member: Member, room: str, now: float) -> None:
        try:
            evicted = self.room_table.open(room, member, now)
        except RoomLimitError:  # _check_budget looked first; only a logic error gets here
            raise ChatError(f"the chat has {len(self.room_table)} rooms, the limit: join an existing room") from None
        member.opened.add(room)
        if evicted is not None:
            name, opener = evicted
            if opener is not None:
                opener.opened.discard(name)
            self._warnings.warn("chat: %d rooms (limit): closed the empty #%s early for #%s of %s",
                                len(self.room_table), name, room, member.peer, key="max-rooms-evict", now=now)

    def rename(self, member: Member, nick: str, now: float) -> None:
        self._check_member(member)
        nick = check_nick(nick)
        holder = self.find(nick)
        if holder is not None and holder is not member:
            raise ChatError(f"nick {nick} is taken")
        old = member.nick
        del self.members[old.lower()]
        member.nick = nick
        self.members[nick.lower()] = member
        if old != nick:
            self._emit(ChatEvent("nick", "", old, member.transport, "", now, to=nick), member,
                       rooms=set(member.rooms))

    # -- talking ---------------------------------------------------------------------------
    def say(self, member: Member, text: str, now: float, room: str | None = None, action: bool = False) -> ChatEvent:
        room = member.room if room is None else check_room(room)
        if room not in member.rooms:
            raise ChatError(f"you are not in #{room}")
        event = ChatEvent("action" if action else "message", room, member.nick, member.transport, text, now,
                          id=self._new_id(now))
        self._emit(event, member)
        if self.history is not None:
            self.history.add(event)
        return event

    def direct(self, member: Member, to: str, text: str, now: float) -> ChatEvent:
        target = self.find(to)
        if target is None:
            raise ChatError(f"no one called {to} is here")
        event = ChatEvent("dm", "", member.nick, member.transport, text, now, to=target.nick, id=self._new_id(now))
        target.deliver(event)
        if self._bus is not None:
            self._bus.publish(CHAT_TOPIC, event)
        return event

    def clear(self, room: str, now: float) -> int:
        """Delete a room's history (admin) and tell its members."""
        room = check_room(room)
        removed = self.history.clear(room) if self.history is not None else 0
        self._emit(ChatEvent("clear", room, "admin", "web", "", now), None)
        return removed

    # -- looking ---------------------------------------------------------------------------
    def who(self, room: str) -> list[Member]:
        return sorted(self.room_table.members(room), key=lambda m: m.nick.lower())

    def rooms(self) -> dict[str, int]:
        """Every listed room and its member count, by name (rebuilt only after a change)."""
        return self.room_table.counts()

    @property
    def rooms_version(self) -> int:
        """Changes whenever ``rooms()`` would: a room opened or closed, a count changed."""
        return self.room_table.version

    def _emit(self, event: ChatEvent, author: Member | None, rooms: set[str] | None = None) -> None:
        """Give an event to every member of its room (or of ``rooms``) except its author."""
        if rooms is None:
            targets = self.room_table.members(event.room)
        else:  # a member in several of the rooms hears it once
            targets = list(dict.fromkeys(m for room in sorted(rooms) for m in self.room_table.members(room)))
        bulk: dict[Fanout, list[Member]] = {}
        for member in targets:
            if member is author:
                continue
            if member.fanout is None:
                member.deliver(event)
            elif member.fanout in bulk:
                bulk[member.fanout].append(member)
            else:
                bulk[member.fanout] = [member]
        for fanout, members in bulk.items():
            fanout.deliver_many(event, members)
        if self._bus is not None:
            self._bus.publish(CHAT_TOPIC, event)
