"""What a native client's line means: a command, a farewell or a message (shared by TCP and UDP)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..textcodec import printable
from .hub import ChatError, ChatHub, Member

FAREWELLS = ("bye", "see you")
LISTED = 100  # rooms or people named in one reply: the whole list of 1,000 would not fit a datagram
HELP = ("commands: /nick NAME, /join ROOM, /rooms, /who, /msg NICK TEXT, /me ACTION, /help, /quit "
        "(a line starting with // sends a message starting with /); 'bye' leaves")


@dataclass
class Outcome:
    replies: list[str] = field(default_factory=list)  # notices for the sender only
    quit: bool = False
    said: str | None = None  # the text, when the line was a message to the room


def handle_line(hub: ChatHub, member: Member, text: str, now: float) -> Outcome:
    text = printable(text.rstrip("\r\n"))
    stripped = text.strip()
    if not stripped:
        return Outcome()
    if stripped.lower() in FAREWELLS or stripped.lower() == "/quit":
        return Outcome(["bye"], quit=True)
    try:
        if stripped.startswith("/") and not stripped.startswith("//"):
            return _command(hub, member, stripped, now)
        said = text[1:] if stripped.startswith("//") else text
        hub.say(member, said, now)
    except ChatError as exc:
        return Outcome([f"error: {exc}"])
    return Outcome(said=said)


def _command(hub: ChatHub, member: Member, line: str, now: float) -> Outcome:
    name, _, arg = line.partition(" ")
    name, arg = name.lower(), arg.strip()
    if name == "/nick":
        hub.rename(member, arg, now)
        return Outcome([f"you are now {member.nick}"])
    if name == "/join":
        room = hub.switch(member, arg, now)
        return Outcome([f"you are in #{room}: {_people(hub, room)}"])
    if name == "/rooms":
        hub.expire(now)  # no room closed a while ago is listed, even if nobody joined since
        rooms = [f"#{r} ({n})" for r, n in hub.rooms().items()]
        return Outcome(["rooms: " + _some(rooms)])
    if name == "/who":
        return Outcome([f"in #{member.room}: {_people(hub, member.room)}"])
    if name == "/msg":
        to, _, body = arg.partition(" ")
        if not to or not body.strip():
            return Outcome(["error: usage: /msg NICK TEXT"])
        hub.direct(member, to, body.strip(), now)
        return Outcome([f"-> {to}: {body.strip()}"])
    if name == "/me":
        if not arg:
            return Outcome(["error: usage: /me ACTION"])
        hub.say(member, arg, now, action=True)
        return Outcome()
    if name == "/help":
        return Outcome([HELP])
    return Outcome([f"error: unknown command {name}; {HELP}"])


def _people(hub: ChatHub, room: str) -> str:
    return _some([f"{m.nick} ({m.transport})" for m in hub.who(room)]) or "nobody"


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown if len(names) <= LISTED else f"{shown} … and {len(names) - LISTED} more"
