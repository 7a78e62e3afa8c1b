"""Nicks and room names: what is allowed, and a refusal that quotes only a bounded part."""

from __future__ import annotations

import re

MAX_NICK = 32
MAX_ROOM = 32
_SHOWN = 40  # characters of a refused name quoted back: a 1 MB name must not come back whole
_NAME = re.compile(r"^[^\s#@/<>*\x00-\x1f\x7f][^\s<>\x00-\x1f\x7f]*$")


class ChatError(ValueError):
    """A request the hub refuses; the message is shown to the member."""


def _shown(name: str) -> str:
    return repr(name if len(name) <= _SHOWN else name[:_SHOWN] + "…")


def check_nick(nick: str) -> str:
    nick = nick.strip()
    if not nick or len(nick) > MAX_NICK or not _NAME.match(nick):
        raise ChatError(f"invalid nick {_shown(nick)}: 1-{MAX_NICK} characters, no spaces, not starting with # @ /")
    return nick


def check_room(room: str) -> str:
    room = room.strip().removeprefix("#").lower()
    if not room or len(room) > MAX_ROOM or not _NAME.match(room):
        raise ChatError(f"invalid room {_shown(room)}: 1-{MAX_ROOM} characters, no spaces")
    return room
