"""WebSocket routes. Each one reads from its own bounded Bus subscription, so a slow
browser loses old items (and is told how many) instead of slowing a service."""

from __future__ import annotations

import time
from typing import Any

from flask_sock import Sock

from sockets_core.packetlog import PACKET_TOPIC, peer_matches
from sockets_core.services import STATUS_TOPIC
from sockets_core.transfers import TRANSFER_TOPIC
from sockets_core.watch import FILES_TOPIC

from . import tools_ws
from .auth import is_admin
from .chat_ws import ChatSession
from .context import services
from .frames import FrameError, expect, parse_request, send_json

PACKET_BATCH_INTERVAL = 0.1  # at most one batch per 100 ms per browser
PACKET_BATCH_BUDGET = 200  # events per batch; the rest is counted, not sent
PACKET_QUEUE = 5_000
WAIT = 1.0  # how long a loop waits before checking the browser is still there



def register(sock: Sock) -> None:
    @sock.route("/ws/status")
    def status_feed(ws: Any) -> None:
        svc = services()
        with svc.bus.subscribe([STATUS_TOPIC], limit=2, name="ws/status") as sub:
            send_json(ws, {"type": "status", "status": svc.status()})
            while ws.connected:
                if sub.get_batch(timeout=WAIT).items:
                    send_json(ws, {"type": "status", "status": svc.status()})

    @sock.route("/ws/packets")
    def packet_feed(ws: Any) -> None:
        """Batches at most every 100 ms, at most PACKET_BATCH_BUDGET events each (the
        newest), with the exact count of what was left out; the browser may send
        {"filter": {"service", "direction", "peer"}} so that the budget goes to what it shows.
        Direct messages keep their payload for the admin only (PacketEvent.for_viewer)."""
        svc = services()
        admin = is_admin()
        wanted: dict[str, str] = {}
        last_rates: object = None
        with svc.bus.subscribe([PACKET_TOPIC], limit=PACKET_QUEUE, name="ws/packets") as sub:
            recent = svc.packetlog.events(limit=PACKET_BATCH_BUDGET)
            send_json(ws, {"type": "packets", "events": [e.for_viewer(admin).to_dict() for e in recent],
                           "skipped": 0})
            while ws.connected:
                request = ws.receive(timeout=0)
                if request:
                    wanted = _packet_filter(request, wanted)
                batch = sub.get_batch(timeout=WAIT)
                events = [item for _, item in batch.items if _wanted(item, wanted)]
                if events or batch.dropped:
                    kept = events[-PACKET_BATCH_BUDGET:]
                    skipped = batch.dropped + len(events) - len(kept)
                    send_json(ws, {"type": "packets", "events": [e.for_viewer(admin).to_dict() for e in kept],
                                   "skipped": skipped})
                if svc.rate_history and svc.rate_history[-1] is not last_rates:
                    last_rates = svc.rate_history[-1]
                    send_json(ws, {"type": "rates", "sample": last_rates})
                if events or batch.dropped:
                    time.sleep(PACKET_BATCH_INTERVAL)  # let the next batch gather

    tools_ws.register(sock)

    @sock.route("/ws/chat")
    def chat(ws: Any) -> None:
        ChatSession(ws).run()

    @sock.route("/ws/files")
    def files_feed(ws: Any) -> None:
        """Folder changes (for the folder this browser says it watches) and the transfer list."""
        svc = services()
        watching: str | None = None
        with svc.bus.subscribe([FILES_TOPIC, TRANSFER_TOPIC], limit=1_000, name="ws/files") as sub:
            send_json(ws, {"type": "transfers", "transfers": svc.transfers.snapshot()})
            try:
                while ws.connected:
                    request = ws.receive(timeout=0)
                    if request:
                        folder = _watch_request(request)
                        if folder is not None:
                            if watching is not None:
                                svc.watcher.unwatch(watching)
                            svc.watcher.watch(folder)
                            watching = folder
                            # the browser (re)loads the listing after this, so nothing that
                            # changed before the watch began can be missed
                            send_json(ws, {"type": "watching", "folder": folder})
                    batch = sub.get_batch(timeout=0.5)
                    folders = sorted({item for topic, item in batch.items if topic == FILES_TOPIC})
                    latest = {item["id"]: item for topic, item in batch.items if topic == TRANSFER_TOPIC}
                    if batch.dropped:
                        send_json(ws, {"type": "transfers", "transfers": svc.transfers.snapshot()})
                        folders = ["*"]
                    elif latest:
                        send_json(ws, {"type": "transfer-updates", "transfers": list(latest.values())})
                    if folders:
                        send_json(ws, {"type": "files-changed", "folders": folders})
            finally:
                if watching is not None:
                    svc.watcher.unwatch(watching)


def _packet_filter(text: str | bytes, current: dict[str, str]) -> dict[str, str]:
    try:
        wanted = expect(parse_request(text), "filter", dict)
    except FrameError:  # the feed goes on as it was
        return current
    if wanted is None:
        return current
    return {k: str(v)[:100] for k, v in wanted.items() if k in ("service", "direction", "peer") and v}


def _wanted(event: Any, wanted: dict[str, str]) -> bool:
    if "service" in wanted and event.service != wanted["service"]:
        return False
    if "direction" in wanted and event.direction != wanted["direction"]:
        return False
    return "peer" not in wanted or peer_matches(event, wanted["peer"])


def _watch_request(text: str | bytes) -> str | None:
    try:
        folder = expect(parse_request(text), "watch", str)
    except FrameError:
        return None
    return folder.strip("/") if folder is not None and len(folder) <= 1024 else None
