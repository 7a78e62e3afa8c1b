"""The JSON API and file downloads."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from sockets_core.chat.hub import ChatError
from sockets_core.pcap import to_pcap
from sockets_core.tools.autoreply import RuleError
from sockets_core.settings import SERVICES

from .auth import admin_required, is_admin
from .context import services

bp = Blueprint("api", __name__)

MAX_PACKETS_PER_REQUEST = 10_000


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
        svc.start(name)
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
    events = services().packetlog.events(int(after), min(int(limit), MAX_PACKETS_PER_REQUEST),
                                         **_packet_filter())
    return jsonify(events=[e.to_dict() for e in events])


def _packet_filter() -> dict[str, str | None]:
    return {"service": request.args.get("service") or None, "peer": request.args.get("peer") or None}


def _export_name(extension: str) -> str:
    return time.strftime(f"sockdash-%Y%m%d-%H%M%S.{extension}")


@bp.get("/api/packets.pcap")
def packets_pcap() -> Any:
    events = services().packetlog.events(**_packet_filter())
    return Response(to_pcap(events), mimetype="application/vnd.tcpdump.pcap",
                    headers={"Content-Disposition": f"attachment; filename={_export_name('pcap')}"})


@bp.get("/api/packets.jsonl")
def packets_jsonl() -> Any:
    events = services().packetlog.events(**_packet_filter())
    return Response((e.to_json() + "\n" for e in events), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f"attachment; filename={_export_name('jsonl')}"})


@bp.get("/api/rates")
def rates() -> Any:
    return jsonify(interval=1, samples=list(services().rate_history))
