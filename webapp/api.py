"""The JSON API and file downloads."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, request, send_file

from sockets_core.files import UnsafePath
from sockets_core.settings import SERVICES

from .auth import admin_required, is_admin
from .context import services

bp = Blueprint("api", __name__)

MAX_PACKETS_PER_REQUEST = 5_000


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


@bp.get("/api/files")
def list_files() -> Any:
    sub = request.args.get("path", "")
    try:
        entries = services().store.list(sub)
    except (UnsafePath, FileNotFoundError, NotADirectoryError) as exc:
        abort(404, description=f"no folder {sub!r}: {exc}")
    return jsonify(path=sub, entries=[{"name": e.name, "path": e.path, "size": e.size,
                                       "modified": e.modified, "type": "dir" if e.is_dir else "file"}
                                      for e in entries])


@bp.get("/files/<path:name>")
def download(name: str) -> Any:
    try:
        path, _ = services().store.open_for_reading(name)
    except (UnsafePath, FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        abort(404, description=f"no file {name!r}: {exc}")
    # conditional=True gives Range requests (curl -C -, browser resume) and ETags.
    return send_file(path, as_attachment=True, download_name=path.name, conditional=True)


@bp.get("/api/packets")
def packets() -> Any:
    after = request.args.get("after", "0")
    limit = request.args.get("limit", "500")
    if not after.isdigit() or not limit.isdigit():
        abort(400, description="after and limit are whole numbers")
    events = services().packetlog.events(int(after), min(int(limit), MAX_PACKETS_PER_REQUEST))
    return jsonify(events=[e.to_dict() for e in events])
