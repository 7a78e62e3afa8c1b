"""The chat hub: rooms, members of every transport, and fan-out of events.

How it works. A Member has a unique nick (across TCP, UDP and web), a transport label,
a current room (where its plain messages go), the set of rooms it receives, and a
``deliver`` callable that must not block: the TCP adapter queues bytes, the UDP adapter
sends one datagram, a browser's WebSocket queues JSON. The hub turns every action into
one ChatEvent and hands it to each member concerned; it also publishes it on the bus
(topic ``chat``) and gives room messages to the history. Time is passed in.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..bus import Bus
from ..textcodec import encode

CHAT_TOPIC = "chat"
DEFAULT_ROOM = "lobby"
MAX_NICK = 32
MAX_ROOM = 32
_NAME = re.compile(r"^[^\s#@/<>*\x00-\x1f\x7f][^\s<>\x00-\x1f\x7f]*$")


class ChatError(ValueError):
    """A request the hub refuses; the message is shown to the member."""


@dataclass(frozen=True)
class ChatEvent:
    kind: str  # message | action | dm | join | leave | nick | clear
    room: str  # "" for direct messages
    nick: str
    transport: str
    text: str
    time: float
    to: str = ""  # dm: the recipient; nick: the new nick
    # renderings made once per event, not once per recipient (see bench/chat_fanout.py)
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "room": self.room, "nick": self.nick, "transport": self.transport,
                "text": self.text, "time": self.time, "to": self.to}

    def encoded_line(self, encoding: str) -> bytes:
        """``as_line`` in ``encoding``, computed once per event and encoding."""
        key = "line:" + encoding
        if key not in self.cache:
            self.cache[key] = encode(self.as_line(), encoding)
        return self.cache[key]  # type: ignore[no-any-return]

    def as_line(self) -> str:
        """How a native (TCP/UDP) client sees the event: one line."""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time))
        if self.kind == "message":
            return f"[{stamp}] #{self.room} <{self.nick}> {self.text}\n"
        if self.kind == "action":
            return f"[{stamp}] #{self.room} * {self.nick} {self.text}\n"
        if self.kind == "dm":
            return f"[{stamp}] (private) <{self.nick}> {self.text}\n"
        if self.kind == "join":
            return f"[{stamp}] #{self.room} * {self.nick} ({self.transport}) joined\n"
        if self.kind == "leave":
            return f"[{stamp}] #{self.room} * {self.nick} ({self.transport}) left\n"
        if self.kind == "clear":
            return f"[{stamp}] #{self.room} * the history of this room was cleared by the admin\n"
        return f"[{stamp}] * {self.nick} is now known as {self.to}\n"


class History(Protocol):
    def add(self, event: ChatEvent) -> None: ...

    def clear(self, room: str) -> int: ...


@dataclass(eq=False)
class Member:
    nick: str
    transport: str
    deliver: Callable[[ChatEvent], None]
    room: str = DEFAULT_ROOM
    rooms: set[str] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)


def check_nick(nick: str) -> str:
    nick = nick.strip()
    if not nick or len(nick) > MAX_NICK or not _NAME.match(nick):
        raise ChatError(f"invalid nick {nick!r}: 1-{MAX_NICK} characters, no spaces, not starting with # @ /")
    return nick


def check_room(room: str) -> str:
    room = room.strip().removeprefix("#").lower()
    if not room or len(room) > MAX_ROOM or not _NAME.match(room):
        raise ChatError(f"invalid room {room!r}: 1-{MAX_ROOM} characters, no spaces")
    return room


class ChatHub:
    def __init__(self, bus: Bus | None = None, history: History | None = None) -> None:
        self._bus = bus
        self.history = history
        self.members: dict[str, Member] = {}  # by lower-cased nick
        self.known_rooms: set[str] = {DEFAULT_ROOM}

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
                del self.members[member.nick.lower()]
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

    def enter(self, member: Member, room: str, now: float) -> str:
        self._check_member(member)
        room = check_room(room)
        self.known_rooms.add(room)
        if room not in member.rooms:
            member.rooms.add(room)
            self._emit(ChatEvent("join", room, member.nick, member.transport, "", now), member)
        member.room = room
        return room

    def exit(self, member: Member, room: str, now: float) -> None:
        if room in member.rooms:
            self._emit(ChatEvent("leave", room, member.nick, member.transport, "", now), member)
            member.rooms.discard(room)

    def switch(self, member: Member, room: str, now: float) -> str:
        """A native client's /join: leave the rooms it was in, enter ``room``."""
        room = check_room(room)
        for old in sorted(member.rooms - {room}):
            self.exit(member, old, now)
        return self.enter(member, room, now)

    def leave(self, member: Member, now: float) -> None:
        if self.members.get(member.nick.lower()) is not member:
            return
        for room in sorted(member.rooms):
            self.exit(member, room, now)
        del self.members[member.nick.lower()]

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
        event = ChatEvent("action" if action else "message", room, member.nick, member.transport, text, now)
        self._emit(event, member)
        if self.history is not None:
            self.history.add(event)
        return event

    def direct(self, member: Member, to: str, text: str, now: float) -> ChatEvent:
        target = self.find(to)
        if target is None:
            raise ChatError(f"no one called {to} is here")
        event = ChatEvent("dm", "", member.nick, member.transport, text, now, to=target.nick)
        target.deliver(event)
        if self._bus is not None:
            self._bus.publish(CHAT_TOPIC, event)
        return event

    def clear(self, room: str, now: float) -> int:
        """Delete a room's history (admin) and tell its members."""
        room = check_room(room)
        removed = self.history.clear(room) if self.history is not None else 0
        event = ChatEvent("clear", room, "admin", "web", "", now)
        for member in list(self.members.values()):
            if room in member.rooms:
                member.deliver(event)
        if self._bus is not None:
            self._bus.publish(CHAT_TOPIC, event)
        return removed

    # -- looking ---------------------------------------------------------------------------
    def who(self, room: str) -> list[Member]:
        return sorted((m for m in self.members.values() if room in m.rooms), key=lambda m: m.nick.lower())

    def rooms(self) -> dict[str, int]:
        counts = {room: 0 for room in self.known_rooms}
        for member in self.members.values():
            for room in member.rooms:
                counts[room] = counts.get(room, 0) + 1
        return dict(sorted(counts.items()))

    def _emit(self, event: ChatEvent, author: Member, rooms: set[str] | None = None) -> None:
        """Give an event to every member of its room (or of ``rooms``) except its author."""
        targets = rooms if rooms is not None else {event.room}
        for member in list(self.members.values()):
            if member is not author and not member.rooms.isdisjoint(targets):
                member.deliver(event)
        if self._bus is not None:
            self._bus.publish(CHAT_TOPIC, event)
