"""ChatEvent: one thing that happened in the chat, and how each kind of client sees it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..textcodec import encode


@dataclass(frozen=True)
class ChatEvent:
    kind: str  # message | action | dm | join | leave | nick | clear
    room: str  # "" for direct messages
    nick: str
    transport: str
    text: str
    time: float
    to: str = ""  # dm: the recipient; nick: the new nick
    # messages, actions and direct messages: unique and increasing (the hub draws it; the
    # history stores messages under it), so a browser merges a replay without doubles; else 0
    id: int = 0
    instance: str = ""  # the instance whose member did it ("" for one read back from the history)
    # renderings made once per event, not once per recipient (see bench/chat_fanout.py)
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "room": self.room, "nick": self.nick, "transport": self.transport,
                "text": self.text, "time": self.time, "to": self.to, "id": self.id}

    def encoded_line(self, encoding: str) -> bytes:
        """``as_line`` in ``encoding``, computed once per event and encoding."""
        key = "line:" + encoding
        line: bytes | None = self.cache.get(key)  # the "line:" entries are bytes
        if line is None:
            line = self.cache[key] = encode(self.as_line(), encoding)
        return line

    def as_line(self) -> str:
        """How a native (TCP/UDP) client sees the event: one line (a browser's message of
        several lines is one line each, each with the sender, as IRC bridges do)."""
        stamp = time.strftime("%H:%M:%S", time.localtime(self.time))
        prefix = {"message": f"[{stamp}] #{self.room} <{self.nick}> ",
                  "action": f"[{stamp}] #{self.room} * {self.nick} ",
                  "dm": f"[{stamp}] (private) <{self.nick}> "}.get(self.kind)
        if prefix is not None:
            return "".join(f"{prefix}{line}\n" for line in self.text.split("\n"))
        if self.kind == "join":
            return f"[{stamp}] #{self.room} * {self.nick} ({self.transport}) joined\n"
        if self.kind == "leave":
            return f"[{stamp}] #{self.room} * {self.nick} ({self.transport}) left\n"
        if self.kind == "clear":
            return f"[{stamp}] #{self.room} * the history of this room was cleared by the admin\n"
        return f"[{stamp}] * {self.nick} is now known as {self.to}\n"
