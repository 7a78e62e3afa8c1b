"""WebSocket routes. Each is a FeedRoute (webapp/feed.py) over its own bounded Bus
subscription, so a slow browser loses old items (and is told how many) instead of
slowing a service, and one that stops reading is cut after --ws-send-timeout."""

from __future__ import annotations

from typing import Any

from flask_sock import Sock

from sockets_core.bus import Batch
from sockets_core.packetlog import PACKET_TOPIC, peer_matches
from sockets_core.services import STATUS_TOPIC, Services
from sockets_core.transfers import TRANSFER_TOPIC
from sockets_core.watch import FILES_TOPIC

from . import tools_ws
from .auth import is_admin
from .chat_ws import ChatSession
from .context import services
from .feed import serve
from .feed_route import FeedRoute, Out
from .frames import FrameError, expect, parse_request

PACKET_BATCH_INTERVAL = 0.1  # at most one batch per 100 ms per browser
PACKET_BATCH_BUDGET = 200  # events per batch; the rest is counted, not sent
PACKET_QUEUE = 5_000
FILES_QUEUE = 1_000
MAX_FOLDER = 1024


class StatusRoute(FeedRoute):
    """The whole status on connect and at each rate sample (the sampler's tick)."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    def opening(self) -> list[Out]:
        return [{"type": "status", "status": self.svc.status()}]

    def render(self, batch: Batch) -> list[Out]:
        return self.opening() if batch.items or batch.dropped else []


class PacketsRoute(FeedRoute):
    """Batches at most every 100 ms, at most PACKET_BATCH_BUDGET events each (the newest),
    with the exact count of what was left out ("skipped"); the browser may send
    {"filter": {"service", "direction", "peer"}} so that the budget goes to what it shows.
    Direct messages keep their payload for the admin only (PacketEvent.for_viewer). At each
    rate sample the newest one goes too ("rates")."""

    drop_note = False  # "skipped" counts them

    def __init__(self, svc: Services, admin: bool) -> None:
        self.svc = svc
        self.admin = admin
        self.wanted: dict[str, str] = {}

    def opening(self) -> list[Out]:
        recent = self.svc.packetlog.events(limit=PACKET_BATCH_BUDGET)
        return [{"type": "packets", "events": [e.for_viewer(self.admin).to_dict() for e in recent], "skipped": 0}]

    def on_request(self, message: dict[str, Any]) -> list[Out]:
        self.wanted = _filter_of(message)
        return []

    def render(self, batch: Batch) -> list[Out]:
        frames: list[Out] = []
        events = [item for topic, item in batch.items if topic == PACKET_TOPIC and _wanted(item, self.wanted)]
        if events or batch.dropped:
            kept = events[-PACKET_BATCH_BUDGET:]
            frames.append({"type": "packets", "events": [e.for_viewer(self.admin).to_dict() for e in kept],
                           "skipped": batch.dropped + len(events) - len(kept)})
        if self.svc.rate_history and any(topic == STATUS_TOPIC for topic, _ in batch.items):
            frames.append({"type": "rates", "sample": self.svc.rate_history[-1]})
        return frames


class FilesRoute(FeedRoute):
    """Folder changes (for the folder this browser says it watches: {"watch": path}) and the
    transfer list; after a drop the whole list again and "every folder changed"."""

    drop_note = False

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.watching: str | None = None

    def opening(self) -> list[Out]:
        return [{"type": "transfers", "transfers": self.svc.transfers.snapshot()}]

    def on_request(self, message: dict[str, Any]) -> list[Out]:
        folder = _folder_of(message)
        if self.watching is not None:
            self.svc.watcher.unwatch(self.watching)
        self.svc.watcher.watch(folder)
        self.watching = folder
        # the browser (re)loads the listing after this, so nothing that changed before the
        # watch began can be missed
        return [{"type": "watching", "folder": folder}]

    def render(self, batch: Batch) -> list[Out]:
        frames: list[Out] = []
        folders = sorted({item for topic, item in batch.items if topic == FILES_TOPIC})
        # ids are per instance: with --bus the feed carries every instance's transfers
        latest = {(item.get("instance"), item["id"]): item for topic, item in batch.items if topic == TRANSFER_TOPIC}
        if batch.dropped:
            frames.append({"type": "transfers", "transfers": self.svc.transfers.snapshot()})
            folders = ["*"]
        elif latest:
            frames.append({"type": "transfer-updates", "transfers": list(latest.values())})
        if folders:
            frames.append({"type": "files-changed", "folders": folders})
        return frames

    def close(self) -> None:
        if self.watching is not None:
            self.svc.watcher.unwatch(self.watching)


def register(sock: Sock) -> None:
    @sock.route("/ws/status")
    def status_feed(ws: Any) -> None:
        serve(ws, StatusRoute(services()), [STATUS_TOPIC], limit=2, name="ws/status")

    @sock.route("/ws/packets")
    def packet_feed(ws: Any) -> None:
        serve(ws, PacketsRoute(services(), is_admin()), [PACKET_TOPIC, STATUS_TOPIC], limit=PACKET_QUEUE,
              name="ws/packets", batch_interval=PACKET_BATCH_INTERVAL)

    tools_ws.register(sock)

    @sock.route("/ws/chat")
    def chat(ws: Any) -> None:
        ChatSession(ws).run()

    @sock.route("/ws/files")
    def files_feed(ws: Any) -> None:
        serve(ws, FilesRoute(services()), [FILES_TOPIC, TRANSFER_TOPIC], limit=FILES_QUEUE, name="ws/files")


def _wanted(event: Any, wanted: dict[str, str]) -> bool:
    if "service" in wanted and event.service != wanted["service"]:
        return False
    if "direction" in wanted and event.direction != wanted["direction"]:
        return False
    return "peer" not in wanted or peer_matches(event, wanted["peer"])


def _filter_of(message: dict[str, Any]) -> dict[str, str]:
    """The packet filter a request asks for; FrameError when it asks for none or a bad one."""
    wanted = expect(message, "filter", dict)
    if wanted is None:
        raise FrameError('send {"filter": {"service": ..., "direction": ..., "peer": ...}}')
    return {k: str(v)[:100] for k, v in wanted.items() if k in ("service", "direction", "peer") and v}


def _folder_of(message: dict[str, Any]) -> str:
    folder = expect(message, "watch", str)
    if folder is None:
        raise FrameError('send {"watch": "folder/path"}')
    if len(folder) > MAX_FOLDER:
        raise FrameError(f"a folder path is at most {MAX_FOLDER} characters")
    return folder.strip("/")


def _packet_filter(text: str | bytes, current: dict[str, str]) -> dict[str, str]:
    """The filter a client frame asks for; ``current`` (kept as it was) for a bad frame."""
    try:
        return _filter_of(parse_request(text))
    except FrameError:
        return current


def _watch_request(text: str | bytes) -> str | None:
    try:
        return _folder_of(parse_request(text))
    except FrameError:
        return None
