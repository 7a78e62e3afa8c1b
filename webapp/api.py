"""The JSON API and file downloads.

The packet log's answers (``/api/packets`` and the ``.pcap`` / ``.jsonl`` exports) can be
tens of thousands of events: they are streamed as they are made, and after every
EXPORT_SLICE of work the export hands the process back to the gevent hub, so that eight
exports at once do not hold up ``/api/status``, a chat or a transfer (bench/exports.py). What a
viewer without the admin token gets of a direct message is its length (for_viewer).
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

import gevent
from flask import Blueprint, Response, abort, jsonify, request

from sockets_core.chat.autoreply import RuleError
from sockets_core.chat.hub import ChatError
from sockets_core.logthrottle import REFUSED_FROM, ThrottledWarning
from sockets_core.packetlog import PacketEvent
from sockets_core.pcap import to_pcap
from sockets_core.servers.listen import BindError
from sockets_core.settings import SERVICES

from .auth import admin_required, is_admin
from .context import services

bp = Blueprint("api", __name__)
log = logging.getLogger(__name__)
_capped = ThrottledWarning(log, suffix=REFUSED_FROM)

MAX_PACKETS_PER_REQUEST = 10_000
# Work between two hand-backs to the hub. The hand-back is gevent.sleep(0), a callback,
# and gevent runs callbacks back to back — 50 of them at least, then until 5 ms have
# passed — before it polls the sockets again; so what bounds the wait of everyone else is
# the length of a step. Steps of 50 events (0.3-0.5 ms) still held the hub 60-230 ms with
# eight exports; steps of 0.1 ms hold it ~5 ms, for ~3% more work (docs/BENCHMARKS.md).
# A timer instead of sleep(0) polls every time but costs a 1 ms epoll wait per step.
EXPORT_SLICE = 0.0001  # seconds
CHUNK_EVENTS = 200  # events per chunk written to the socket


@bp.get("/api/status")
def status() -> Any:
    return jsonify(services().status())


@bp.get("/api/whoami")
def whoami() -> Any:
    return jsonify(admin=is_admin())


@bp.post("/api/services/<name>/<action>")
@admin_required
def control(name: str, action: str) -> Any:
    if name not in SERVICES:
        abort(404, description=f"no service {name!r}")
    svc = services()
    if action == "stop":
        svc.stop(name)
    elif action == "start":
        if name in svc.settings.disabled:
            abort(409, description=f"{name} was disabled at start (--disable)")
        try:
            svc.start(name)
        except BindError as exc:  # another program holds the port: the admin is told which, not a 500
            in_use = exc.cause.errno == errno.EADDRINUSE
            abort(409, description=f"{name}: port {exc.port} in use" if in_use else exc.message)
    else:
        abort(404, description=f"no action {action!r}: use start or stop")
    return jsonify(svc.status()["services"][name])


@bp.get("/api/chat/rooms")
def chat_rooms() -> Any:
    hub = services().hub
    return jsonify(rooms=[{"room": room, "members": [{"nick": m.nick, "transport": m.transport}
                                                     for m in hub.who(room)]} for room in hub.rooms()])


@bp.post("/api/chat/rooms/<room>/clear")
@admin_required
def clear_room(room: str) -> Any:
    try:
        removed = services().hub.clear(room, time.time())
    except ChatError as exc:
        abort(400, description=str(exc))
    return jsonify(room=room, removed=removed)


@bp.get("/api/autoreply")
@admin_required
def autoreply_rules() -> Any:
    return jsonify({name: [r.as_dict() for r in responder.rules]
                    for name, responder in services().responders.items()})


@bp.put("/api/autoreply/<name>")
@admin_required
def set_autoreply_rules(name: str) -> Any:
    svc = services()
    if name not in svc.responders:
        abort(404, description=f"no auto-responses for {name!r}: use {', '.join(svc.responders)}")
    rules = request.get_json(silent=True)
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        abort(400, description='send a JSON list of rules: [{"match": "any", "reply": "收到"}]')
    try:
        svc.set_autoreplies(name, rules)
    except RuleError as exc:
        abort(400, description=str(exc))
    return jsonify({name: [r.as_dict() for r in svc.responders[name].rules]})


@bp.get("/api/transfers")
def transfers() -> Any:
    return jsonify(transfers=services().transfers.snapshot())


@bp.get("/api/packets")
def packets() -> Any:
    after = request.args.get("after", "0")
    limit = request.args.get("limit", "500")
    if not after.isdigit() or not limit.isdigit():
        abort(400, description="after and limit are whole numbers")
    if int(limit) > MAX_PACKETS_PER_REQUEST:
        _capped.warn("api/packets: %s asked for %d events; answered the newest %d", request.remote_addr,
                     int(limit), MAX_PACKETS_PER_REQUEST, key=str(request.remote_addr))
    newest_first = services().packetlog.iter_events(int(after), *_packet_filter(), newest_first=True)
    events = list(islice(_paced(newest_first, is_admin()), min(int(limit), MAX_PACKETS_PER_REQUEST)))
    events.reverse()
    return Response(_json_body(events), mimetype="application/json")


def _paced(events: Iterable[PacketEvent], admin: bool) -> Iterator[PacketEvent]:
    """The events as this viewer may see them, letting the hub run every EXPORT_SLICE."""
    return _stepped(e.for_viewer(admin) for e in events)


def _stepped(events: Iterable[PacketEvent]) -> Iterator[PacketEvent]:
    """The events, handing the hub back whenever EXPORT_SLICE has passed (the consumer's
    work on each event, done between two of them, counts)."""
    deadline = time.perf_counter() + EXPORT_SLICE
    for event in events:
        yield event
        if time.perf_counter() >= deadline:
            gevent.sleep(0)
            deadline = time.perf_counter() + EXPORT_SLICE


def _json_chunks(events: Iterable[PacketEvent], separator: str) -> Iterator[str]:
    """The events' JSON, CHUNK_EVENTS to a chunk, each event followed by ``separator``."""
    chunk: list[str] = []
    for event in events:
        chunk.append(event.to_json())
        if len(chunk) >= CHUNK_EVENTS:
            yield separator.join(chunk) + separator
            chunk.clear()
    if chunk:
        yield separator.join(chunk) + separator


def _json_body(events: list[PacketEvent]) -> Iterator[str]:
    yield '{"events":['
    for index, chunk in enumerate(_json_chunks(_stepped(events), ",")):
        yield ("," if index else "") + chunk[:-1]
    yield "]}"


def _packet_filter() -> tuple[str | None, str | None]:
    """The page's filters: (service, peer)."""
    return request.args.get("service") or None, request.args.get("peer") or None


def _export_name(extension: str) -> str:
    return time.strftime(f"sockdash-%Y%m%d-%H%M%S.{extension}")


@bp.get("/api/packets.pcap")
def packets_pcap() -> Any:
    events = _paced(services().packetlog.iter_events(0, *_packet_filter()), is_admin())
    return Response(to_pcap(events, CHUNK_EVENTS), mimetype="application/vnd.tcpdump.pcap",
                    headers={"Content-Disposition": f"attachment; filename={_export_name('pcap')}"})


@bp.get("/api/packets.jsonl")
def packets_jsonl() -> Any:
    events = _paced(services().packetlog.iter_events(0, *_packet_filter()), is_admin())
    return Response(_json_chunks(events, "\n"), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f"attachment; filename={_export_name('jsonl')}"})


@bp.get("/api/rates")
def rates() -> Any:
    return jsonify(interval=1, samples=list(services().rate_history))
