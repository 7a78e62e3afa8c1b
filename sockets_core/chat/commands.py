"""What a chat line means: a command, a farewell or a message.

One set of commands for every transport. A native client (TCP, UDP) is in one room at a
time and types each line there: ``handle_line``. A browser is in several rooms at once and
types a line into one of them (or into a private conversation): its ``send`` requests
starting with ``/`` go through ``run_command`` with that room and ``several_rooms=True``, so
``/join`` adds a room instead of moving the member, and ``/leave`` leaves the room it was
typed in. Either way a command is answered to its sender only, never said to the room.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..textcodec import printable
from .events import ChatEvent
from .hub import DEFAULT_ROOM, ChatError, ChatHub, Member, check_room

FAREWELLS = ("bye", "see you")
LISTED = 100  # rooms or people named in one reply: the whole list of 1,000 would not fit a datagram
HELP = ("commands: /nick NAME, /join ROOM, /leave, /rooms, /who, /msg NICK TEXT, /me ACTION, /help, /quit "
        "(a line starting with // sends a message starting with /); 'bye' leaves")
WEB_HELP = ("commands: /nick NAME, /join ROOM, /leave [ROOM], /rooms, /who [ROOM], /msg NICK TEXT, /me ACTION, "
            "/help (a message starting with // sends one starting with /; Shift+Enter starts a new line)")


@dataclass
class Outcome:
    replies: list[str] = field(default_factory=list)  # notices for the sender only
    quit: bool = False
    said: str | None = None  # the text, when the line was a message to the room
    event: ChatEvent | None = None  # the action or direct message a command produced
    entered: str | None = None  # the room a /join (or a native /leave) put the member in
    left: str | None = None  # the room a /leave took the member out of


def is_command(text: str) -> bool:
    stripped = text.strip()
    return stripped.startswith("/") and not stripped.startswith("//")


def handle_line(hub: ChatHub, member: Member, text: str, now: float) -> Outcome:
    """A native client's line; errors become an ``error: …`` reply."""
    text = printable(text.rstrip("\r\n"))
    stripped = text.strip()
    if not stripped:
        return Outcome()
    if stripped.lower() in FAREWELLS or stripped.lower() == "/quit":
        return Outcome(["bye"], quit=True)
    try:
        if is_command(stripped):
            return run_command(hub, member, stripped, now)
        said = text[1:] if stripped.startswith("//") else text
        hub.say(member, said, now)
    except ChatError as exc:
        return Outcome([f"error: {exc}"])
    return Outcome(said=said)


def run_command(hub: ChatHub, member: Member, line: str, now: float, room: str | None = None,
                several_rooms: bool = False) -> Outcome:
    """Carry out one command line. ``room`` is where it was typed (a native client: its
    current room; a browser: None in a private conversation). ChatError if refused."""
    name, _, arg = line.strip().partition(" ")
    name, arg = name.lower(), arg.strip()
    here = room if several_rooms else member.room
    if name == "/nick":
        hub.rename(member, arg, now)
        return Outcome([f"you are now {member.nick}"])
    if name == "/join":
        if not arg:
            raise ChatError("usage: /join ROOM")
        entered = hub.enter(member, arg, now) if several_rooms else hub.switch(member, arg, now)
        return Outcome([f"you are in #{entered}: {_people(hub, entered)}"], entered=entered)
    if name == "/leave":
        return _leave(hub, member, check_room(arg) if arg else here, now, several_rooms)
    if name == "/rooms":
        hub.expire(now)  # no room closed a while ago is listed, even if nobody joined since
        rooms = [f"#{r} ({n})" for r, n in hub.rooms().items()]
        return Outcome(["rooms: " + _some(rooms)])
    if name == "/who":
        target = check_room(arg) if arg else _in_a_room(here, "/who ROOM")
        return Outcome([f"in #{target}: {_people(hub, target)}"])
    if name == "/msg":
        to, _, body = arg.partition(" ")
        if not to or not body.strip():
            raise ChatError("usage: /msg NICK TEXT")
        event = hub.direct(member, to, body.strip(), now)
        return Outcome([f"-> {event.to}: {event.text}"], event=event)
    if name == "/me":
        if not arg:
            raise ChatError("usage: /me ACTION")
        return Outcome(event=hub.say(member, arg, now, room=_in_a_room(here, "/me in a room"), action=True))
    if name == "/help":
        return Outcome([WEB_HELP if several_rooms else HELP])
    raise ChatError(f"unknown command {name[:40]}; {WEB_HELP if several_rooms else HELP}")


def _in_a_room(room: str | None, usage: str) -> str:
    if room is None:
        raise ChatError(f"this is a private conversation: use {usage}")
    return room


def _leave(hub: ChatHub, member: Member, room: str | None, now: float, several_rooms: bool) -> Outcome:
    room = _in_a_room(room, "/leave ROOM")
    if room not in member.rooms:
        raise ChatError(f"you are not in #{room}")
    if several_rooms:
        hub.exit(member, room, now)
        return Outcome([f"you left #{room}"], left=room)
    if room == DEFAULT_ROOM:  # a native client is always somewhere: the lobby is where it starts
        raise ChatError("you are in #lobby, where everyone starts: /join another room, or 'bye' to leave the chat")
    hub.switch(member, DEFAULT_ROOM, now)
    return Outcome([f"you left #{room}; you are in #{DEFAULT_ROOM}: {_people(hub, DEFAULT_ROOM)}"],
                   entered=DEFAULT_ROOM, left=room)


def _people(hub: ChatHub, room: str) -> str:
    return _some([f"{m.nick} ({m.transport})" for m in hub.who(room)]) or "nobody"


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown if len(names) <= LISTED else f"{shown} … and {len(names) - LISTED} more"
