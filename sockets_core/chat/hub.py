"""The chat hub: who is in the room, and fan-out of one message to every other member.

Members are transport-neutral: each has a nick, a transport label and a ``deliver``
callable that must not block (the TCP adapter queues, the UDP adapter sends a datagram).
Every message is also published on the bus topic ``chat`` for the web side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..bus import Bus

CHAT_TOPIC = "chat"
DEFAULT_ROOM = "lobby"


@dataclass(frozen=True)
class ChatMessage:
    room: str
    nick: str
    transport: str
    text: str
    time: float

    def as_line(self) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time))
        return f"[{stamp}] #{self.room} <{self.nick}> {self.text}\n"


@dataclass(eq=False)
class Member:
    nick: str
    transport: str
    deliver: Callable[[ChatMessage], None]
    room: str = DEFAULT_ROOM
    extra: dict[str, object] = field(default_factory=dict)


class NickTaken(ValueError):
    pass


class ChatHub:
    def __init__(self, bus: Bus | None = None) -> None:
        self._bus = bus
        self.members: dict[str, Member] = {}

    def join(self, member: Member) -> None:
        if member.nick in self.members:
            raise NickTaken(member.nick)
        self.members[member.nick] = member

    def leave(self, member: Member) -> None:
        if self.members.get(member.nick) is member:
            del self.members[member.nick]

    def rename(self, member: Member, nick: str) -> None:
        if nick in self.members:
            raise NickTaken(nick)
        self.leave(member)
        member.nick = nick
        self.members[nick] = member

    def post(self, sender: Member, text: str, now: float) -> ChatMessage:
        message = ChatMessage(sender.room, sender.nick, sender.transport, text, now)
        for member in list(self.members.values()):
            if member is not sender and member.room == sender.room:
                member.deliver(message)
        if self._bus is not None:
            self._bus.publish(CHAT_TOPIC, message)
        return message
