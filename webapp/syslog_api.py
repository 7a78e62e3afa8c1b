"""The syslog receiver's web side: ``/api/syslog`` (query and poll), the two exports and
the ``/ws/syslog`` live feed of the Syslog page.

The feed is built like /ws/packets: a bounded bus subscription (a slow browser loses the
oldest messages and is told how many), at most one frame every BATCH_INTERVAL with at most
BATCH_CAP messages (the newest; the rest are counted as "more"), so a device sending
20,000 messages a second costs a browser five frames a second. The browser may send
{"filter": {"host", "severity", "q"}}; it then gets the newest matching messages again
and, for a host, that host's file transfers (a switch's TFTP download beside its syslog).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from flask_sock import Sock

from sockets_core.bus import Batch
from sockets_core.services import Services
from sockets_core.syslog.parse import parse_severity
from sockets_core.syslog.store import SYSLOG_TOPIC, SyslogEntry, SyslogFilter
from sockets_core.transfers import TRANSFER_TOPIC

from .api import CHUNK_EVENTS, _export_name, _stepped
from .context import services
from .feed import Feed, feed
from .feed_route import FeedRoute, Out
from .frames import expect, to_json

bp = Blueprint("syslog_api", __name__)

DEFAULT_LIMIT = 500
MAX_LIMIT = 10_000  # the whole default ring in one answer
MAX_FILTER_TEXT = 200
BATCH_INTERVAL = 0.2  # seconds between two frames of the live feed
BATCH_CAP = 200  # messages per frame; the rest are counted ("N more not shown")
FEED_QUEUE = 5_000  # messages a subscription holds before the oldest are dropped


def filter_from(args: Any) -> SyslogFilter:
    """host, severity (a name or 0-7: this or worse) and q (text); ValueError names the bad one."""
    host = str(args.get("host") or "").strip()
    text = str(args.get("q") or "")
    if len(host) > MAX_FILTER_TEXT or len(text) > MAX_FILTER_TEXT:
        raise ValueError(f"host and q are at most {MAX_FILTER_TEXT} characters")
    severity_text = str(args.get("severity") or "").strip()
    severity = parse_severity(severity_text) if severity_text else None
    return SyslogFilter(host, severity, text)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        abort(400, description=f"{name}={text!r} is not a number")
    if not low <= value <= high:
        abort(400, description=f"{name}={value} must be between {low} and {high}")
    return value


def _request_filter() -> SyslogFilter:
    try:
        return filter_from(request.args)
    except ValueError as exc:
        abort(400, description=str(exc))


def _paced(entries: Iterable[SyslogEntry]) -> Iterator[SyslogEntry]:
    """api._stepped (typed for packet events) over syslog entries: the hub runs every 0.1 ms."""
    return _stepped(entries)  # type: ignore[arg-type, return-value]  # until api._stepped is generic (F1's file)


def newest(match: SyslogFilter, after: int, limit: int) -> list[SyslogEntry]:
    """The newest ``limit`` matching entries newer than ``after``, oldest first. An entry is
    parsed the first time a filter looks at it (~20 us), so a first filter over a full ring of
    10,000 takes ~0.2 s: it is done in steps (api._stepped) that let the rest of the process run."""
    entries = _paced(services().syslog.iter_entries(None, after, newest_first=True))
    found = list(islice((e for e in entries if match.empty or match(e)), limit))
    found.reverse()
    return found


@bp.get("/api/syslog")
def syslog_messages() -> Any:
    """The newest ``limit`` matching messages newer than ``after`` (an id), oldest first;
    ``last_id`` is what to pass as ``after`` next time."""
    match = _request_filter()
    after = _int_arg("after", 0, 0, 2**63)
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    store = services().syslog
    last_id = store.received  # before the search: a message arriving meanwhile is fetched next time
    entries = newest(match, after, limit)
    return jsonify(messages=[e.to_dict() for e in entries], last_id=last_id, status=store.status())


def _jsonl(entries: Iterable[SyslogEntry]) -> Iterator[str]:
    chunk: list[str] = []
    for entry in entries:
        chunk.append(to_json(entry.to_dict()))
        if len(chunk) >= CHUNK_EVENTS:
            yield "\n".join(chunk) + "\n"
            chunk.clear()
    if chunk:
        yield "\n".join(chunk) + "\n"


def _lines(entries: Iterable[SyslogEntry]) -> Iterator[str]:
    chunk: list[str] = []
    for entry in entries:
        chunk.append(entry.log_line())
        if len(chunk) >= CHUNK_EVENTS:
            yield "\n".join(chunk) + "\n"
            chunk.clear()
    if chunk:
        yield "\n".join(chunk) + "\n"


@bp.get("/api/syslog.jsonl")
def syslog_jsonl() -> Any:
    entries = _paced(services().syslog.iter_entries(_request_filter()))
    return Response(_jsonl(entries), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f"attachment; filename=syslog-{_export_name('jsonl')}"})


@bp.get("/api/syslog.log")
def syslog_log() -> Any:
    entries = _paced(services().syslog.iter_entries(_request_filter()))
    return Response(_lines(entries), mimetype="text/plain; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=syslog-{_export_name('log')}"})


def transfer_host(peer: str) -> str:
    """"10.0.0.5:49152" -> "10.0.0.5", "[::1]:5000" -> "::1" (transfers name peers so)."""
    host = peer.rsplit(":", 1)[0] if peer.count(":") == 1 or peer.startswith("[") else peer
    return host.strip("[]").lower()


def _transfers_of(host: str, transfers: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in transfers if host and transfer_host(str(t.get("peer", ""))) == host]


FILTER_HELP = 'send {"filter": {"host": ..., "severity": ..., "q": ...}} with severity a name or 0-7'


class SyslogRoute(FeedRoute):
    """The /ws/syslog feed: the newest messages on connect and after each filter ("reset"),
    then each batch's matching ones (at most BATCH_CAP, the rest counted in "more") and,
    for a host, its transfers."""

    drop_note = False  # "more" counts them

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.match = SyslogFilter()
        self.feed: Feed | None = None

    def opening(self) -> list[Out]:
        recent = newest(self.match, 0, BATCH_CAP)
        return [{"type": "messages", "reset": True, "messages": [e.to_dict() for e in recent], "more": 0,
                 "status": self.svc.syslog.status(),
                 "transfers": _transfers_of(self.match.host, self.svc.transfers.snapshot()),
                 "filter": self.match.asked}]

    def on_request(self, message: dict[str, Any]) -> list[Out]:
        wanted = expect(message, "filter", dict)
        if wanted is None:
            raise ValueError(FILTER_HELP)
        self.match = filter_from(wanted)  # a ValueError leaves the filter in force
        if self.feed is not None:
            self.feed.discard_pending()  # what came before the reset is in it
        return self.opening()

    def render(self, batch: Batch) -> list[Out]:
        frames: list[Out] = []
        entries = [item for topic, item in batch.items if topic == SYSLOG_TOPIC]
        if not self.match.empty:  # parsing them for the filter, in steps (see newest())
            entries = [e for e in _paced(entries) if self.match(e)]
        transfers = _transfers_of(self.match.host,
                                  (item for topic, item in batch.items if topic == TRANSFER_TOPIC))
        if entries or batch.dropped:
            kept = entries[-BATCH_CAP:]
            frames.append({"type": "messages", "messages": [e.to_dict() for e in kept],
                           "more": batch.dropped + len(entries) - len(kept), "status": self.svc.syslog.status()})
        if transfers:
            frames.append({"type": "transfer-updates", "transfers": transfers})
        return frames


def syslog_feed(ws: Any) -> None:
    """The /ws/syslog session (a flask-sock WebSocket; run inside a request)."""
    route = SyslogRoute(services())
    route.feed = feed(ws, route, [SYSLOG_TOPIC, TRANSFER_TOPIC], limit=FEED_QUEUE, name="ws/syslog",
                      batch_interval=BATCH_INTERVAL)
    route.feed.run()


def register(sock: Sock) -> None:
    sock.route("/ws/syslog")(syslog_feed)
