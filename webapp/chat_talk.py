"""What a browser's text becomes: a message, an action, a direct message or a command.

A ``send`` whose text starts with ``/`` is a command, carried out by the same code as a TCP
client's line (sockets_core/chat/commands.py) and answered to this browser only: ``/msg``,
``/nick``, ``/join`` typed in the page never reach the room or its history. ``//`` at the
start sends a message starting with ``/``. A message may have several lines (Shift+Enter);
native clients get one line each.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from sockets_core.chat.commands import Outcome, is_command, run_command
from sockets_core.chat.framing import MAX_LINE
from sockets_core.chat.hub import ChatError, ChatEvent, ChatHub, Member, check_room
from sockets_core.chat.private import PrivateMessages
from sockets_core.privacy import is_direct_message
from sockets_core.textcodec import printable

MAX_LINES = 50  # lines in one message: each is a line to every native client
_private: weakref.WeakKeyDictionary[ChatHub, PrivateMessages] = weakref.WeakKeyDictionary()


def private_messages(hub: ChatHub) -> PrivateMessages:
    """The direct messages kept for the browser tabs of this hub, for their reloads."""
    if hub not in _private:
        _private[hub] = PrivateMessages()
    return _private[hub]


def carries_dm(message: object) -> bool:
    """Whether a browser's request holds a direct message (the packet log keeps it private)."""
    if not isinstance(message, dict):
        return False
    kind = message.get("type")
    if kind == "dm":
        return True
    if kind != "send":
        return False
    try:  # judge the text as talk() will run it: "\n/msg bob x" is a /msg once cleaned
        return is_direct_message(clean_text(message.get("text", "")))
    except ChatError:
        return False


class TooManyLines(ChatError):
    """A message over MAX_LINES: refused (the caller logs it, throttled)."""


@dataclass
class Said:
    """The result of one ``send`` or ``dm``: the fields of its ack, and what else to do."""

    ack: dict[str, Any] = field(default_factory=dict)
    event: ChatEvent | None = None  # the message, action or direct message it produced
    entered: str | None = None  # a room a /join opened: its history and members go out first
    left: str | None = None
    renamed: bool = False


def clean_text(raw: object) -> str:
    """A browser's text as the chat keeps it: control characters shown as ``\\xNN`` line by
    line (the newlines between lines stay), blank lines at either end dropped."""
    lines = str(raw).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise ChatError("empty message")
    if len(lines) > MAX_LINES:
        raise TooManyLines(f"a message has at most {MAX_LINES} lines (this one has {len(lines)}); "
                           "share a longer text as a file")
    text = "\n".join(printable(line) for line in lines)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_LINE:
        raise ChatError(f"message longer than {MAX_LINE} bytes")
    return text


def _unescaped(text: str) -> str:
    """``//x`` is the message ``/x``."""
    start = len(text) - len(text.lstrip())
    return text[:start] + text[start + 1:] if text.startswith("//", start) else text


def talk(hub: ChatHub, member: Member, kind: str, message: dict[str, Any], now: float) -> Said:
    """Carry out a ``send`` or ``dm`` request; ChatError if it is refused."""
    text = clean_text(message.get("text", ""))
    if kind == "dm":
        event = hub.direct(member, str(message.get("to", "")), _unescaped(text), now)
        return Said({"event": event.as_dict()}, event)
    typed_in = str(message.get("room") or "")
    if message.get("action"):  # what an older page sends for /me
        event = hub.say(member, text, now, room=typed_in or member.room, action=True)
        return Said({"event": event.as_dict()}, event)
    if is_command(text):
        if "\n" in text:
            raise ChatError("a command is one line (start with // to send a message that starts with /)")
        nick = member.nick
        outcome = run_command(hub, member, text, now, room=check_room(typed_in) if typed_in else None,
                              several_rooms=True)
        return _command_said(text, outcome, renamed=member.nick != nick)
    event = hub.say(member, _unescaped(text), now, room=typed_in or member.room)
    return Said({"event": event.as_dict()}, event)


def _command_said(text: str, outcome: Outcome, renamed: bool) -> Said:
    ack = {"command": text.strip().partition(" ")[0].lower(), "replies": outcome.replies,
           "event": outcome.event.as_dict() if outcome.event is not None else None,
           "entered": outcome.entered, "left": outcome.left}
    return Said(ack, outcome.event, outcome.entered, outcome.left, renamed)
