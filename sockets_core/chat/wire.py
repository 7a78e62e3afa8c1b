"""The chat's items on the bus (topic ``chat``, a cluster topic): one JSON-able dict each.

Every chat action of every instance is one item; each instance's hub consumes all of them
(its own included) from one subscription and delivers each to its own members concerned.
One topic for talk and membership alike, so one instance's "alice joined the chat",
"alice joined #lab", "alice: hi" and "alice left" arrive everywhere in that order.

Every item::

    {"instance": "host-123-ab12",  # the publishing instance (bus.instance)
     "seq": 1764078000000001,      # that instance's item number: rises by one per item, and
                                   # starts at the boot time in µs, so it rises across restarts
                                   # (consumers drop an item not above the last seen: no doubles)
     "kind": "message",            # see below
     "room": "lobby", "nick": "alice", "transport": "tcp", "text": "hi", "time": 1764078000.12,
     "to": "",                     # dm: the recipient's nick; nick: the new nick
     "id": 1806415872000001027}    # message, action, dm: the message id (cluster-unique), else 0

Kinds shown to members, as ChatEvent (events.py): ``message`` ``action`` (room), ``dm``
(``to``), ``join`` ``leave`` (room; also how other instances learn who is in which room),
``nick`` (with ``"rooms": [...]``: the rooms whose members hear it), ``clear`` (a room's
history was cleared: every instance clears its own).

Kinds that only keep the other instances' views right (chat/remote.py):
``member`` (nick, transport: joined the chat, before its ``join`` items), ``quit`` (nick:
left the chat, after its ``leave`` items), ``hello`` (the instance started: forget its
members, answer with your roster) and ``roster`` (``"members": [{"nick", "transport",
"rooms": [...]}]``: every member of the publishing instance).
"""

from __future__ import annotations

from typing import Any

from .events import ChatEvent

SHOWN_KINDS = frozenset({"message", "action", "dm", "join", "leave", "nick", "clear"})
VIEW_KINDS = frozenset({"member", "quit", "hello", "roster"})
STORED_KINDS = frozenset({"message", "action"})  # what the history keeps


def to_wire(event: ChatEvent, instance: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {"instance": instance, "seq": seq, "kind": event.kind, "room": event.room, "nick": event.nick,
            "transport": event.transport, "text": event.text, "time": event.time, "to": event.to,
            "id": event.id, **extra}


def view_item(kind: str, instance: str, seq: int, **fields: Any) -> dict[str, Any]:
    return {"instance": instance, "seq": seq, "kind": kind, **fields}


def from_wire(item: dict[str, Any]) -> ChatEvent:
    """The ChatEvent an item shows; ValueError/KeyError/TypeError for a malformed item."""
    return ChatEvent(str(item["kind"]), str(item.get("room", "")), str(item["nick"]),
                     str(item.get("transport", "")), str(item.get("text", "")), float(item.get("time", 0.0)),
                     to=str(item.get("to", "")), id=int(item.get("id", 0)), instance=str(item["instance"]))
