"""The admin token and the Origin checks.

Anyone on the LAN may look; admin actions need the token, as ``Authorization: Bearer``
or as the cookie set by visiting ``/?token=TOKEN`` once. A request carrying an Origin
header must name this very host: browsers send Origin on WebSocket handshakes and on
state-changing requests, and flask-sock / simple-websocket check nothing themselves
(cross-site WebSocket hijacking). A request with no Origin (curl, a script) is judged by
its token alone.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Request, abort, current_app, render_template, request

log = logging.getLogger(__name__)

TOKEN_FILE = "admin_token"
COOKIE = "sockdash_admin"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_or_create_token(data_dir: Path, given: str | None) -> str:
    """The token from the flag, else the one kept in the data dir, else a new one (kept there)."""
    path = data_dir / TOKEN_FILE
    if given:
        return given
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def presented_token(req: Request) -> str | None:
    header = req.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    return req.cookies.get(COOKIE)


def token_matches(token: str | None) -> bool:
    """Compared in constant time: how long a wrong token took must not tell how much of it was right."""
    expected: str = current_app.config["ADMIN_TOKEN"]
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def is_admin(req: Request | None = None) -> bool:
    return token_matches(presented_token(req or request))


def origin_allowed(req: Request) -> bool:
    origin = req.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == req.host.lower()


def is_websocket(req: Request) -> bool:
    return req.headers.get("Upgrade", "").lower() == "websocket"


def check_origin() -> None:
    """before_request hook: refuse cross-origin WebSocket handshakes and state changes."""
    if (is_websocket(request) or request.method not in SAFE_METHODS) and not origin_allowed(request):
        log.warning("refused %s %s from origin %s (host %s)", request.method, request.path,
                    request.headers.get("Origin"), request.host)
        abort(403, description="cross-origin request refused")


ADMIN_PATHS = ("/tools", "/ws/tools")


def check_admin_paths() -> Any:
    """before_request hook: the tools page and its WebSocket (refused before the handshake)."""
    if request.path in ADMIN_PATHS and not is_admin():
        log.info("refused %s to a visitor without the admin token", request.path)
        if not is_websocket(request):  # a person at a browser gets a page saying what to do
            return render_template("forbidden.html"), 403
        abort(403, description="the tools need the admin token: open the admin link printed at start")


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not is_admin():
            abort(403, description="admin token required")
        return view(*args, **kwargs)

    return wrapper
