"""A member of the chat (of any transport, on this instance or another), and what the hub
needs of its adapters and of the history store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..textcodec import UTF8
from .events import ChatEvent
from .rooms import DEFAULT_ROOM


class Fanout(Protocol):
    """An adapter that delivers one event to many of its members in one call (the UDP
    server: one queue entry per event instead of one per peer)."""

    def deliver_many(self, event: ChatEvent, members: list[Member]) -> None: ...


class History(Protocol):
    def add(self, event: ChatEvent) -> None: ...

    def clear(self, room: str) -> int: ...

    def last_id(self) -> int: ...

    def recent(self, room: str, limit: int = ..., before: int | None = None) -> list[ChatEvent]: ...


@dataclass(eq=False)
class Member:
    nick: str
    transport: str
    deliver: Callable[[ChatEvent], None]
    room: str = DEFAULT_ROOM
    rooms: set[str] = field(default_factory=set)
    opened: set[str] = field(default_factory=set)  # rooms it created that still exist (its room budget)
    fanout: Fanout | None = None  # if set, room events reach it through fanout.deliver_many
    # "" for a member of this instance; else the instance it is on (chat/remote.py): this
    # instance only lists it, its own instance delivers to it
    instance: str = ""
    # what the adapters keep per member
    address: str = ""  # its address as shown ("10.0.0.7:5000"): named in the chat's limit warnings
    encoding: str = UTF8  # what a native client last wrote in: its lines go out in it
    client: str = ""  # web: the browser's client secret, which alone may take the nick back after a reload
    last_seen: float = 0.0  # UDP: when it last sent (the server's monotonic clock), for the peer TTL
    sockaddr: tuple[Any, ...] | None = None  # UDP: where its datagrams go
    gone: bool = False  # UDP: expired or left; what is still queued for it is not sent

    @property
    def peer(self) -> str:
        return self.address or self.nick

    def roster_entry(self) -> dict[str, Any]:
        return {"nick": self.nick, "transport": self.transport, "rooms": sorted(self.rooms)}
