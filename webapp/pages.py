"""The HTML pages. Every page renders its data server-side and then goes live over a WebSocket."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request

from sockets_core.logthrottle import REFUSED_FROM, ThrottledWarning
from sockets_core.netinfo import url_host
from sockets_core.settings import SERVICES

from .advertise import advertised_hosts
from .auth import COOKIE, is_admin, token_matches
from .context import services
from .hints import hints

log = logging.getLogger(__name__)
bp = Blueprint("pages", __name__)
COOKIE_MAX_AGE = 365 * 86400
WRONG_TOKEN = ("wrong admin token: open the Admin link sockdash printed at its start "
               "(a restart with another --admin-token or --data changes it)")

SAFE_EXAMPLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
TITLES = {"http": "Dashboard (HTTP)", "tcp_chat": "TCP chat", "udp_chat": "UDP chat",
          "file": "TCP file download", "tftp": "TFTP", "syslog": "Syslog"}


def request_hostname() -> str:
    """The host the browser used, without port or IPv6 brackets."""
    return urlsplit("//" + request.host).hostname or "localhost"


def shown_hosts() -> list[str]:
    """The addresses the pages show, the default first: only ones the services are bound to."""
    return advertised_hosts(services().settings.host, request_hostname(), current_app.config["LAN_ADDRESSES"])


def lan_host() -> str:
    """The address commands use by default (see webapp.advertise)."""
    return shown_hosts()[0]


def example_file() -> str:
    try:
        for entry in services().store.list():
            if not entry.is_dir and SAFE_EXAMPLE.match(entry.name):
                return entry.name
    except OSError:
        pass
    return "hello.txt"


def admin_link() -> Any:
    """``/?token=T``: a right token becomes the HttpOnly cookie and the browser is sent on to
    the same address without it (303), so the token leaves the address bar and the history;
    the other query arguments are kept. A wrong token sets nothing and says so."""
    token = request.args["token"]
    if not token_matches(token):
        warnings = current_app.extensions.setdefault("sockdash.wrong_tokens",
                                                   ThrottledWarning(log, suffix=REFUSED_FROM))
        warnings.warn("refused an admin link with a wrong token", key=request.remote_addr or "?")
        abort(403, description=WRONG_TOKEN)
    rest = [(key, value) for key, value in request.args.items(multi=True) if key != "token"]
    response = redirect("/?" + urlencode(rest) if rest else "/", code=303)
    # Strict: no other site can make the browser send it, the page's own WebSockets still do
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", max_age=COOKIE_MAX_AGE)
    response.headers["Cache-Control"] = "no-store"
    return response


def readable_duration(seconds: float) -> str:
    """45 s, 12 min 05 s, 2 h 03 min, 3 d 4 h (as static/js/format.js writes it)."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


# where each service's activity is seen in full
SERVICE_PAGES = {"http": ("/files", "Browse the files"), "tcp_chat": ("/chat", "Open the chat"),
                 "udp_chat": ("/chat", "Open the chat"), "file": ("/files", "Browse the files"),
                 "tftp": ("/files#transfers", "See the transfers"), "syslog": ("/syslog", "Watch the syslog")}


@bp.get("/")
def home() -> Any:
    if "token" in request.args:
        return admin_link()
    status = services().status()
    hosts = shown_hosts()
    example = example_file()
    http_port = status["services"]["http"]["port"] if "http" in status["services"] else 0
    cards = []
    for name in ("http", *SERVICES):
        entry = status["services"].get(name)
        if entry is None:
            continue
        cards.append({"name": name, "title": TITLES[name], **entry, "page": SERVICE_PAGES[name],
                      "hints": [(host, hints(name, host, entry["port"], example, http_port)) for host in hosts]})
    return render_template("home.html", cards=cards, status=status, hosts=hosts, url_host=url_host,
                           uptime=readable_duration(status["uptime_s"]), admin=is_admin())


@bp.get("/chat")
def chat() -> Any:
    status = services().status()["services"]
    host = lan_host()
    return render_template("chat.html", status=status, host=host, admin=is_admin())


@bp.get("/files")
def files() -> Any:
    status = services().status()["services"]
    ports = {name: (status[name]["port"] if status[name]["running"] else None)
             for name in ("http", "file", "tftp")}
    return render_template("files.html", admin=is_admin(), hosts=shown_hosts(), ports=ports,
                           max_upload=services().store.max_upload)


@bp.get("/tools")
def tools() -> Any:
    return render_template("tools.html")


@bp.get("/syslog")
def syslog() -> Any:
    entry = services().status()["services"]["syslog"]
    return render_template("syslog.html", host=lan_host(), port=entry["port"], running=entry["running"],
                           note=entry.get("note", ""))


@bp.get("/packets")
def packets() -> Any:
    return render_template("packets.html", services=[*SERVICES, "web_chat"])
