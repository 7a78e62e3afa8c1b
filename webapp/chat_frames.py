"""The frames a web chat tab (webapp/chat_ws.py) gets besides its answers: events, the room
list, a room's member list and a page of its history.

Apart from the session so chat_ws.py holds only what one tab does; here what is the same for
every browser is serialised once (an event however many tabs receive it, the room list once
per change), so 500 browsers cost one ``to_json`` each, not 500.
"""

from __future__ import annotations

import weakref
from typing import Any

from sockets_core.chat.history import RECENT_LIMIT
from sockets_core.chat.hub import ChatError, ChatEvent, ChatHub

from .frames import to_json

_rooms_frames: weakref.WeakKeyDictionary[ChatHub, tuple[int, str]] = weakref.WeakKeyDictionary()


def rooms_frame(hub: ChatHub) -> str:
    """The ``rooms`` frame, serialised once per change of the room list for every browser."""
    version, frame = _rooms_frames.get(hub, (-1, ""))
    if version != hub.rooms_version:
        version, frame = hub.rooms_version, to_json({"type": "rooms", "rooms": hub.rooms()})
        _rooms_frames[hub] = (version, frame)
    return frame


def event_json(event: ChatEvent) -> str:
    """An event as JSON, serialised once however many browsers receive it."""
    if "json" not in event.cache:
        event.cache["json"] = to_json(event.as_dict())
    return event.cache["json"]  # type: ignore[no-any-return]


def members_frame(hub: ChatHub, room: str) -> dict[str, Any]:
    """The ``members`` frame of a room: who is in it, over which transport."""
    return {"type": "members", "room": room,
            "members": [{"nick": m.nick, "transport": m.transport} for m in hub.who(room)]}


def history_frame(hub: ChatHub, room: str, before: object) -> dict[str, Any]:
    """The last RECENT_LIMIT messages of a room (before the id ``before``, for Load older);
    ``more`` says whether older ones are stored."""
    if before is not None and (not isinstance(before, int) or isinstance(before, bool)
                               or not 0 < before < 1 << 63):  # SQLite integers are 64-bit
        raise ChatError("before is the id of a message")
    history = hub.history
    events = history.recent(room, RECENT_LIMIT + 1, before) if history is not None else []
    frame: dict[str, Any] = {"type": "history", "room": room, "events": [e.as_dict() for e in
                                                                           events[-RECENT_LIMIT:]],
                             "more": len(events) > RECENT_LIMIT}
    if before is not None:
        frame["before"] = before
    return frame
