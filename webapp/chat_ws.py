"""The web chat: one WebSocket session per browser tab, a Member of the ChatHub like any
TCP or UDP client. Protocol in docs/websocket.md.

Nothing typed is silently lost: every send carries a client-chosen id and is answered
with an ``ack`` (or an ``error`` naming the id). The browser resends what was not acked
after a reconnect; ids already handled for that browser are acked again, not repeated.
A tab is a FeedRoute (webapp/feed.py): its reader answers requests, its writer drains the
bounded queue the hub delivers to, so a slow browser never slows a room; if it falls
behind it is told how many it lost (``lost``; counted in /api/status web_chat.delivery),
and one that stops reading is cut after --ws-send-timeout and its nick freed.

Nothing a browser sends grows the server without bound: message ids are at most MAX_ID
characters and the ids remembered are bounded per client and in total (RecentIds). The
room list and member lists are snapshots sent at most every SNAPSHOT_INTERVAL and only
when they changed (serialised once for every browser: chat_frames.py).

Text starting with ``/`` is a command (chat_talk.py), answered to this browser alone. A
tab's direct messages are replayed in its next welcome (chat_reconnect.py); a room's
older messages come page by page with ``{"type": "history", "room", "before": ID}``.
With --bus the secret's key and the ids handled are the cluster's, in Redis
(chat_shared.py), so a resend to another instance is recognised; a nick its old
connection still holds on another instance is taken back (chat_takeover.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import request

from sockets_core.bus import Batch, BoundedQueue
from sockets_core.chat.hub import ChatError, ChatEvent, ChatHub, Member, check_room
from sockets_core.chat.limits import WARNING_INTERVAL, RecentIds
from sockets_core.logthrottle import ThrottledWarning

from . import chat_identity
from .chat_frames import event_json, history_frame, members_frame, rooms_frame
from .chat_reconnect import drop_taken_over, keep_dm, kept_dms, register
from .chat_shared import SharedChatState, shared_state
from .chat_takeover import take_over, watch
from .chat_talk import MAX_LINES, TooManyLines, carries_dm, talk
from .context import services
from .feed import Feed
from .feed_route import FeedRoute, Frame
from .frames import to_json
from .ws_transport import WebSocketTransport

log = logging.getLogger(__name__)

QUEUE_LIMIT = 2_000
BATCH_INTERVAL = 0.02
SNAPSHOT_INTERVAL = 1.0  # room list and member lists: at most one of each per second per browser
MAX_ID = 64  # characters of a message id (the page's are ~20)
HANDLED_IDS_PER_CLIENT = 200
HANDLED_IDS_TOTAL = 20_000
FLOOD_AGE = 60.0  # an id evicted by the total bound younger than this means someone floods
_handled = RecentIds(HANDLED_IDS_PER_CLIENT, HANDLED_IDS_TOTAL)
_warnings = ThrottledWarning(log, WARNING_INTERVAL)


class ChatSession(FeedRoute):
    """One browser tab: a FeedRoute (webapp/feed.py) over the queue the hub delivers to."""

    drop_note = False  # the page reads {"type": "lost"}

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.svc = services()
        self.hub: ChatHub = self.svc.hub
        self.client = ""
        self.member: Member | None = None
        self.shared: SharedChatState | None = shared_state(self.svc.cluster)  # None: embedded
        self.cluster_bus = self.svc.cluster.bus if self.svc.cluster is not None else None
        if self.cluster_bus is not None:
            watch(self.cluster_bus, self.hub, drop_taken_over)
        self.peer = f"{request.remote_addr}:{request.environ.get('REMOTE_PORT', '?')}"
        self.tap = self.svc.web_chat_tap
        self.delivery = self.svc.web_chat_delivery
        self.delivery["queue_events"] = QUEUE_LIMIT
        http = self.svc.http
        self.local = (http.host, http.port) if http is not None else ("0.0.0.0", 0)
        self.remote = (str(request.remote_addr), int(request.environ.get("REMOTE_PORT") or 0))
        # the hub's deliveries to this tab, for the writer (bounded: a slow browser loses the oldest)
        self._queue: BoundedQueue[ChatEvent] = BoundedQueue(QUEUE_LIMIT, f"web chat {self.peer}")
        self._rooms_sent = -1  # the hub's rooms_version this browser last got
        self._stale_members: set[str] = set()  # rooms whose member list changed since last sent
        self._snapshot_at = float("-inf")  # monotonic time of the last snapshots
        self._replies: list[Frame] = []  # the frames answering the request being handled
        # snapshots and "lost" notes rendered but not yet sent: a batch the feed halves is
        # rendered again, and these must neither vanish with the first rendering nor count twice
        self._unsent_snapshots: list[Frame] = []
        self._unsent_lost: dict[Frame, int] = {}
        self.feed: Feed | None = None

    def run(self) -> None:
        self.tap.opened(self.local, self.remote)
        self.feed = Feed(WebSocketTransport(self.ws, self.peer), self._queue, self,
                         send_timeout=self.svc.settings.ws_send_timeout, batch_interval=BATCH_INTERVAL,
                         idle_timeout=self.svc.settings.ws_idle_timeout)
        self.feed.run()

    # -- the feed's side ----------------------------------------------------------------------
    def _out(self, message: dict[str, Any] | str, private: bool = False) -> None:
        """A reply to the request being handled. ``private``: the frame carries a direct
        message (see PacketEvent.for_viewer)."""
        self._replies.append(Frame(message if isinstance(message, str) else to_json(message), private))

    def on_request(self, message: dict[str, Any]) -> list[Frame]:
        self._replies = []
        self._dispatch(message)
        replies, self._replies = self._replies, []
        return replies

    def error_frame(self, text: str) -> dict[str, Any]:
        return {"type": "error", "text": text}

    def on_text(self, text: str | bytes, message: dict[str, Any] | None) -> None:
        # the packet log keeps a copy with the client secret masked (hello carries it)
        self.tap.received(self.local, self.remote, chat_identity.masked_bytes(text, self.client), "WS text",
                          private=carries_dm(message))

    def on_sent(self, frame: Frame) -> None:
        self.tap.sent(self.local, self.remote, chat_identity.masked_bytes(frame.text, self.client), "WS text",
                      private=frame.private)
        if frame in self._unsent_snapshots:
            self._unsent_snapshots.remove(frame)
        lost = self._unsent_lost.pop(frame, 0)
        if lost:
            self.delivery["lagged"] += 1
            self.delivery["dropped_events"] += lost
            _warnings.warn("web chat: %s fell behind: %d events dropped (queue limit %d per browser tab)",
                           self.peer, lost, QUEUE_LIMIT, key="lost")

    def render(self, batch: Batch[ChatEvent]) -> list[Frame]:
        frames: list[Frame] = []
        if batch.dropped:
            lost = Frame(to_json({"type": "lost", "count": batch.dropped}))
            self._unsent_lost[lost] = batch.dropped
            frames.append(lost)
        # one frame per batch: a busy room costs a browser a few frames a second;
        # direct messages in a frame of their own, which the packet log keeps private
        for private in (False, True):
            group = [e for e in batch.items if (e.kind == "dm") == private]
            if group:
                frames.append(Frame('{"type":"events","events":[' + ",".join(event_json(e) for e in group) + "]}",
                                    private))
        for event in batch.items:
            if event.kind in ("join", "leave", "nick") and self.member is not None:
                self._stale_members.update([event.room] if event.room else self.member.rooms)
        if not self._unsent_snapshots:
            self._unsent_snapshots = self._snapshots()
        return frames + self._unsent_snapshots

    def close(self) -> None:
        if self.member is not None:
            self.hub.leave(self.member, time.time())
        self.tap.closed(self.local, self.remote, self.feed.ended_by if self.feed is not None else "peer")

    def _send_snapshots(self, now: float | None = None) -> None:
        """The snapshots due, as replies to the request being handled."""
        self._replies.extend(self._snapshots(now))

    def _snapshots(self, now: float | None = None) -> list[Frame]:
        """Member lists of the rooms that changed and the room list if it changed — at most
        once per SNAPSHOT_INTERVAL (500 clients joining must not cost 500² of them; the
        join and leave events themselves go out at once)."""
        now = time.monotonic() if now is None else now
        if now - self._snapshot_at < SNAPSHOT_INTERVAL:
            return []
        self.hub.expire(time.time())
        stale = sorted(r for r in self._stale_members if self.member is not None and r in self.member.rooms)
        self._stale_members.clear()
        frames = [Frame(to_json(members_frame(self.hub, room)))
                  for room in stale]
        if self.hub.rooms_version != self._rooms_sent:
            self._rooms_sent = self.hub.rooms_version
            frames.append(Frame(rooms_frame(self.hub)))
        if frames:  # a change after a quiet while goes out at once
            self._snapshot_at = now
        return frames

    # -- requests from the browser --------------------------------------------------------
    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        message_id = str(message.get("id", ""))
        try:
            if len(message_id) > MAX_ID:
                message_id = ""  # never echoed back: it could be 64 KiB
                raise ChatError(f"message id longer than {MAX_ID} characters")
            if kind == "hello":
                self._hello(message)
            elif self.member is None:
                raise ChatError("say hello with a nick first")
            elif kind in ("send", "dm"):
                self._say(kind, message, message_id)
            elif kind == "history":
                self._room_history(self._joined_room(message), message.get("before"))
            elif kind == "join":
                room = self.hub.enter(self.member, str(message.get("room", "")), time.time())
                self._room_state(room)
            elif kind == "leave":
                self.hub.exit(self.member, check_room(str(message.get("room", ""))), time.time())
                self._send_snapshots()
            elif kind == "nick":
                self.hub.rename(self.member, str(message.get("nick", "")), time.time())
                self._out({"type": "nick", "nick": self.member.nick})
            else:
                raise ChatError(f"unknown request {kind!r}")
        except ChatError as exc:
            if isinstance(exc, TooManyLines):
                _warnings.warn("web chat: %s sent a message over %d lines (limit): refused", self.peer, MAX_LINES,
                               key="lines:" + self.peer)
            self._out({"type": "error", "id": message_id or None, "request": kind, "text": str(exc)},
                      private=carries_dm(message))

    def _joined_room(self, message: dict[str, Any]) -> str:
        assert self.member is not None
        room = check_room(str(message.get("room", "")))
        if room not in self.member.rooms:
            raise ChatError(f"you are not in #{room}")
        return room

    def _deliver(self, event: ChatEvent) -> None:
        """The hub's delivery to this tab (must not block): queued for the writer."""
        if event.kind == "dm":
            self._keep_dm(event.nick, event)
        self._queue.put(event)

    def _keep_dm(self, partner: str, event: ChatEvent) -> None:
        keep_dm(self.hub, self.shared, self.client, partner, event, self.peer, _warnings)

    def _hello(self, message: dict[str, Any]) -> None:
        nick = str(message.get("nick", ""))
        # the nick may be taken over only with the secret this server issued (chat_identity)
        key = self.shared.key(chat_identity.LOCAL_KEY) if self.shared is not None else chat_identity.LOCAL_KEY
        presented = str(message.get("client", ""))[:64]
        self.client = chat_identity.accept(presented, key)
        wanted = message.get("rooms")
        # a tab reopens at most its budget of rooms; the rest of a long list is not even looked at
        rooms = [check_room(str(r)) for r in (wanted if isinstance(wanted, list) else [])
                 [:self.hub.limits.rooms_per_client]] or ["lobby"]
        holder = self.hub.find(nick)
        if (holder is not None and holder.transport == "web"
                and chat_identity.same_secret(holder.client, self.client)):
            self.hub.leave(holder, time.time())  # this tab's previous connection, not yet noticed gone
        elif holder is None and self.cluster_bus is not None and self.client == presented:
            take_over(self.cluster_bus, self.hub, nick, self.client)  # held on another instance?
        if self.member is not None:
            self.hub.leave(self.member, time.time())
            self.member = None
        member = Member(nick, "web", self._deliver, room=rooms[0], client=self.client, address=self.peer)
        self.hub.join(member, time.time(), rooms)
        self.member = member
        register(self, member)
        log.info("web chat: %s joined as %s", self.peer, member.nick)
        self._rooms_sent = self.hub.rooms_version
        self._out({"type": "welcome", "nick": member.nick, "rooms": self.hub.rooms(),
                        "joined": sorted(member.rooms), "client": self.client})
        for room in sorted(member.rooms):
            self._room_state(room)
        kept = kept_dms(self.hub, self.shared, self.client)
        if kept:  # this tab's direct messages, for a reload: in a frame the packet log keeps private
            self._out({"type": "dms", "events": kept}, private=True)

    def _room_state(self, room: str) -> None:
        self._room_history(room, None)
        self._out(members_frame(self.hub, room))
        self._send_snapshots()  # the room list, unless it went out less than a second ago

    def _room_history(self, room: str, before: object) -> None:
        self._out(history_frame(self.hub, room, before))

    def _say(self, kind: str, message: dict[str, Any], message_id: str) -> None:
        assert self.member is not None
        if message_id and self.client and _handled.seen(self.client, message_id):
            # a resend after a reconnect: acked again, naming the event it made (the page
            # drops its copy when the history it just got holds that event already)
            self._out({"type": "ack", "id": message_id, "duplicate": True,
                       "event_id": _handled.event_id(self.client, message_id)})
            return
        if message_id and self.client and self.shared is not None:  # a resend to another instance?
            claimed, event_id = self.shared.claim(self.client, message_id, _handled.ttl)
            if not claimed:
                self._out({"type": "ack", "id": message_id, "duplicate": True, "event_id": event_id})
                return
        now = time.time()
        try:
            said = talk(self.hub, self.member, kind, message, now)
        except ChatError:
            if message_id and self.client and self.shared is not None:
                self.shared.release(self.client, message_id)  # refused: the same id may come again
            raise
        if message_id and self.client and self.shared is not None:
            self.shared.handled(self.client, message_id, said.event.id if said.event else 0, _handled.ttl)
        if said.event is not None and said.event.kind == "dm":
            self._keep_dm(said.event.to, said.event)
        if said.entered is not None:
            self._room_state(said.entered)
        if said.left is not None:
            self._send_snapshots()
        if said.renamed:
            self._out({"type": "nick", "nick": self.member.nick})
        if message_id and self.client:
            evicted_age = _handled.remember(self.client, message_id, now, said.event.id if said.event else 0)
            if evicted_age is not None and evicted_age < FLOOD_AGE:
                _warnings.warn("web chat: %d message ids remembered (limit): forgot one only %.0f s old; latest "
                               "from %s", HANDLED_IDS_TOTAL, evicted_age, self.peer, key="ids")
        private = said.event is not None and said.event.kind == "dm"
        self._out({"type": "ack", "id": message_id, **said.ack}, private=private)

