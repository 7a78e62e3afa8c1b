"""/ws/tools: the admin's socket tools. Refused (403, before the handshake) without the
admin token. On connect the page gets every open session with its recent events, so a
reload reattaches to open connections; then each event and state change as it happens.

A request may carry a ``ref`` (the page names the form it came from); the reply to it,
an error included, carries the same ``ref``, so the page shows an error next to the form
that caused it and clears it there."""

from __future__ import annotations

import logging
from typing import Any

from sockets_core.addresses import parse_hostport
from sockets_core.bus import Batch
from sockets_core.chat.autoreply import RuleError
from sockets_core.tools.payload import PayloadError, build
from sockets_core.tools.sessions import TOOLS_TOPIC, ToolError, open_tftp
from webapp.tftp_cli import TFTP_PORT

from .context import services
from .feed import serve
from .feed_route import FeedRoute, Out
from .frames import FrameError, parse_request

log = logging.getLogger(__name__)

TOOLS_QUEUE = 5_000


def _int(value: Any, default: int | None = None) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ToolError(f"{value!r} is not a number") from None


def handle(message: dict[str, Any]) -> dict[str, Any] | None:
    """One request from the page; returns a reply for it, if any."""
    svc = services()
    tools = svc.tools
    kind = message.get("type")
    if kind == "open":
        session = tools.open(str(message.get("tool", "")), str(message.get("host", "")).strip(),
                             _int(message.get("port"), 0) or 0)
        return {"type": "opened", "session": session.id}
    if kind == "tftp":
        host, port = parse_hostport(str(message.get("server", "")), TFTP_PORT)
        session = open_tftp(tools, svc.store, svc.transfers, action=str(message.get("action", "")), host=host,
                            port=port, remote=str(message.get("remote", "")), local=str(message.get("local", "")),
                            blksize=_int(message.get("blksize")), windowsize=_int(message.get("windowsize")))
        return {"type": "opened", "session": session.id}
    if kind == "autoreply":
        rules = message.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise ToolError("rules are a list of {match, pattern, reply}")
        target = str(message.get("target", ""))
        if target in svc.responders:
            svc.set_autoreplies(target, rules)
        else:
            responder_session = tools.get(_int(target, 0) or 0)
            responder_session.responder.set_rules(rules)
            tools.changed(responder_session)
        return {"type": "autoreply", "services": _service_rules(), "saved": target}
    session = tools.get(_int(message.get("session"), 0) or 0)
    if kind == "send":
        data = build(str(message.get("text", "")), kind=str(message.get("kind", "text")),
                     encoding=str(message.get("encoding", "utf-8")),
                     line_ending=str(message.get("line_ending", "none")))
        to = str(message.get("to") or "") or None
        repeat = message.get("repeat")
        if isinstance(repeat, dict) and _int(repeat.get("count"), 1) != 1:
            session.repeat(data, to, _int(repeat.get("every_ms"), 1000) or 0, _int(repeat.get("count"), 1) or 0)
        else:
            session.send(data, to)
    elif kind == "kick":
        kick = getattr(session, "kick", None)
        if kick is None:
            raise ToolError("only a TCP server kicks clients")
        kick(str(message.get("peer", "")))
    elif kind == "stop":
        session.stop_repeats()
    elif kind == "encoding":
        session.set_encoding(str(message.get("encoding", "")))
    elif kind == "clear":
        session.clear()
    elif kind == "close":
        tools.forget(session.id)
    else:
        raise ToolError(f"unknown request {kind!r}")
    return None


def answer(text: str | bytes) -> dict[str, Any] | None:
    """The reply to one request from the page, errors included, carrying its ``ref``."""
    try:
        message = parse_request(text)
    except FrameError as exc:
        return ToolsRoute().error_frame(str(exc))
    return ToolsRoute().reply(message)


class ToolsRoute(FeedRoute):
    """Every open session with its recent events first, then their events and state changes;
    after a drop the whole list again."""

    drop_note = False

    def opening(self) -> list[Out]:
        return [{"type": "sessions", "sessions": services().tools.snapshot()},
                {"type": "autoreply", "services": _service_rules()}]

    def on_request(self, message: dict[str, Any]) -> list[Out]:
        reply = self.reply(message)
        return [reply] if reply is not None else []

    def reply(self, message: dict[str, Any]) -> dict[str, Any] | None:
        try:
            reply = handle(message)
        except (ToolError, PayloadError, RuleError, ValueError, OSError) as exc:
            reply = self.error_frame(str(exc))
        except Exception as exc:  # a tool's failure must not end the admin's page
            log.exception("tools: request failed")
            reply = self.error_frame(f"failed: {exc}")
        ref = message.get("ref")
        if isinstance(ref, str):
            reply = {**(reply or {"type": "done"}), "ref": ref}  # "done": the page clears that form's error
        return reply

    def error_frame(self, text: str) -> dict[str, Any]:
        return {"type": "error", "text": text}

    def render(self, batch: Batch) -> list[Out]:
        if batch.dropped:
            return [{"type": "sessions", "sessions": services().tools.snapshot()}]
        return [{"type": "updates", "updates": [item for _, item in batch.items]}] if batch.items else []


def _service_rules() -> dict[str, list[dict[str, str]]]:
    return {name: [r.as_dict() for r in responder.rules] for name, responder in services().responders.items()}


def register(sock: Any) -> None:
    @sock.route("/ws/tools")
    def tools_feed(ws: Any) -> None:
        serve(ws, ToolsRoute(), [TOOLS_TOPIC], limit=TOOLS_QUEUE, name="ws/tools")
