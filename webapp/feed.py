"""The one shape of every WebSocket route: a reader greenlet for the browser's requests and
a writer draining one bounded bus subscription.

A route says what it sends (a ``FeedRoute``, webapp/feed_route.py, with ``Frame`` and the
``Transport`` a feed runs on); ``Feed`` does the rest the same way for all:

- reader: every client frame goes through ``frames.parse_request``; a bad one is answered
  with the route's ``error_frame`` and the feed goes on. Two requests every feed knows:
  ``{"type": "ping"}`` (answered ``{"type": "pong"}``, with its ``id``) and
  ``{"pause": true|false}`` (while paused nothing from the subscription is sent; what
  was missed is counted and the route renders the next batch with that count). Anything
  else goes to ``route.on_request``; its replies are sent at once by the reader.
- writer: one ``get_batch`` per wake (at most ``wait`` seconds apart, so a route may also
  send on a clock), ``route.render(batch)`` turns the batch into frames (a batch per
  frame: a busy feed costs a browser a few frames a second, not one per event), then
  ``batch_interval`` of sleep lets the next batch gather. A frame over ``max_frame`` bytes
  is not sent: the batch is halved and each half rendered (so ``render`` must depend only
  on the batch and the route's request state); a single item that alone is too big is
  counted as dropped. Drops (the subscription's, the pause's, the size's) reach the route
  in ``batch.dropped``; a route whose frames carry no count of their own gets a
  ``{"type": "dropped", "count": N}`` note (``drop_note``).
- sending: one lock, so the reader's replies and the writer's frames never interleave on
  the socket; every frame is written whole (simple-websocket's own send is one
  ``socket.send``, which under gevent may write part of a frame and lose the rest when
  the socket buffer is full: the stream is then corrupt), and it must be taken within
  ``send_timeout`` seconds (``--ws-send-timeout``): a browser that stops reading (a
  frozen tab, a vanished laptop) would otherwise hold a greenlet and its socket buffers
  for ever. Then the socket is cut (no close frame: half a frame may be on the wire)
  and a WARNING logged, throttled per address.
- keepalive: every ``ping_interval`` the writer sends a WebSocket ping (under the send
  lock, so it never cuts into a frame). Signs of life: any frame from the browser, a pong
  included, bytes from it still waiting to be read (a busy process has not read them yet),
  and a frame of ours the socket took (a browser that reads is there, however far behind:
  its pong waits behind what it has not read yet). One with none for ``idle_timeout``
  (``--ws-idle-timeout``, several ping intervals) is closed with a WARNING; one that stops
  reading is the send timeout's. (flask-sock's own ping check is off, app.py: it closed,
  with 1008 "Ping/Pong timeout" and no log line, every browser that was more than one ping
  interval of data behind, since the ping waits in the stream behind that data.)
- ending: when the browser closes, the reader ends and closes the subscription, which
  wakes the writer; when the writer ends (the send timeout, a failed send, a bug in
  ``render``), the reader is killed and the socket closed. ``route.close`` runs once, either way.

The subscription may be any bus.BoundedQueue: the web chat (webapp/chat_ws.py) feeds a
tab from the queue the hub delivers to.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterable
from typing import Any

import gevent
from flask import request
from gevent.lock import Semaphore

from sockets_core.bus import Batch, BoundedQueue
from sockets_core.logthrottle import ThrottledWarning

from .feed_route import FeedRoute, Out, Transport, as_frame
from .frames import FrameError, expect, parse_request
from .ws_transport import ConnectionClosed, WebSocketTransport

log = logging.getLogger(__name__)

WAIT = 1.0  # the writer wakes at least this often (a route's clock; a check the feed is alive)
MAX_FRAME = 1 << 20  # bytes of one frame; a bigger batch is halved
SEND_TIMEOUT = 30.0  # default of --ws-send-timeout
IDLE_TIMEOUT = 120.0  # default of --ws-idle-timeout
PING_INTERVAL = 25.0  # at most; a third of the idle timeout when that is shorter
MAX_PING_ID = 64
_warnings = ThrottledWarning(log)


class SendTimeout(Exception):
    pass


class IdleTimeout(Exception):
    pass


class Feed:
    def __init__(self, transport: Transport, subscription: BoundedQueue[Any], route: FeedRoute, *,
                 send_timeout: float = SEND_TIMEOUT, batch_interval: float = 0.0, max_items: int | None = None,
                 max_frame: int = MAX_FRAME, wait: float = WAIT, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.transport = transport
        self.subscription = subscription
        self.route = route
        self.send_timeout = send_timeout
        self.batch_interval = batch_interval
        self.max_items = max_items
        self.max_frame = max_frame
        self.wait = wait
        self.idle_timeout = idle_timeout
        self.ping_interval = min(PING_INTERVAL, idle_timeout / 3)
        self._alive_at = self._pinged_at = time.monotonic()
        self.paused = False
        self.ended_by = ""  # "peer", "send timeout", "idle", "send failed", "error", or the library's reason
        self._missed = 0  # items not sent while paused or too big, for the next batch's count
        self._send_lock = Semaphore()

    # -- the two greenlets ----------------------------------------------------------------
    def run(self) -> None:
        """Serve the browser until either side ends; returns when both have."""
        # the reader sees the request's context (services(), is_admin()) as the writer does
        reader = gevent.spawn(contextvars.copy_context().run, self._read_loop)
        try:
            self._send_all(self.route.opening())
            self._write_loop()
        except SendTimeout:
            self._timed_out()
        except IdleTimeout:
            self.ended_by = "idle"
            _warnings.warn("websocket: %s sent nothing, not even a pong, for %g s (--ws-idle-timeout): closed",
                           self.transport.peer, self.idle_timeout, key="idle:" + self._address())
        except (OSError, ConnectionClosed):
            self.ended_by = self.ended_by or "send failed"
        except Exception:
            self.ended_by = "error"
            log.exception("websocket feed to %s failed", self.transport.peer)
        finally:
            reader.kill()
            self.subscription.close()
            try:
                self.route.close()
            finally:
                self._hang_up()

    def _read_loop(self) -> None:
        try:
            while self.transport.connected:
                text = self.transport.receive(self.wait)
                if text is not None:
                    self._alive_at = time.monotonic()
                    self._answer(text)
        except (OSError, ConnectionClosed):
            pass
        except SendTimeout:  # a reply the browser did not take; the writer learns it from the closed subscription
            self._timed_out()
            self.transport.abort()
        finally:
            if not self.ended_by:
                self.ended_by = self._library_close() or "peer"
            self.subscription.close()  # wakes the writer

    def _write_loop(self) -> None:
        while not self.subscription.closed:
            batch = self.subscription.get_batch(timeout=self.wait, max_items=self.max_items)
            if self.subscription.closed:
                return
            self._keep_alive()
            if self.paused:
                self._missed += len(batch.items) + batch.dropped
                continue
            batch = Batch(batch.items, batch.dropped + self._missed)
            self._missed = 0
            if self._send_batch(batch) and self.batch_interval:
                gevent.sleep(self.batch_interval)  # let the next batch gather

    def _keep_alive(self) -> None:
        now = time.monotonic()
        if self.transport.pong_arrived():
            self._alive_at = now
        # idle: no sign of life for idle_timeout, though a ping went out since the last one
        # and has had an interval to be answered (a stalled process is not the browser's fault)
        if (now - self._alive_at > self.idle_timeout and self._pinged_at > self._alive_at
                and now - self._pinged_at >= self.ping_interval):
            if not self.transport.has_input():
                raise IdleTimeout()
            self._alive_at = now  # it spoke; the library's reader has not read it yet
        if now - self._pinged_at >= self.ping_interval:
            self._pinged_at = now
            with self._send_lock, gevent.Timeout(self.send_timeout, SendTimeout):
                self.transport.ping()

    def discard_pending(self) -> None:
        """Forget what the subscription holds (a route that just sent a fresh snapshot)."""
        self.subscription.get_batch(timeout=0)
        self._missed = 0

    # -- requests -------------------------------------------------------------------------
    def _answer(self, text: str | bytes) -> None:
        message: dict[str, Any] | None = None
        try:
            message = parse_request(text)
            self.route.on_text(text, message)
            replies = self._own_request(message)
            if replies is None:
                replies = list(self.route.on_request(message))
        except (FrameError, ValueError) as exc:  # FrameError is one; the feed goes on as it was
            if message is None:
                self.route.on_text(text, None)
            replies = [self.route.error_frame(str(exc))]
        except Exception as exc:  # a route's failure must not end the browser's page
            log.exception("websocket request from %s failed", self.transport.peer)
            replies = [self.route.error_frame(f"failed: {exc}")]
        self._send_all(replies)

    def _own_request(self, message: dict[str, Any]) -> list[Out] | None:
        if message.get("type") == "ping":
            ping_id = message.get("id")
            return [{"type": "pong", **({"id": ping_id} if isinstance(ping_id, (str, int)) and
                                         len(str(ping_id)) <= MAX_PING_ID else {})}]
        pause = expect(message, "pause", bool)
        if pause is None:
            return None
        self.paused = pause
        return [{"type": "paused", "paused": pause}]

    # -- sending --------------------------------------------------------------------------
    def _send_batch(self, batch: Batch) -> bool:
        """Render and send one batch, halving it while a frame is too big; whether anything went."""
        frames = [as_frame(m) for m in self.route.render(batch)]
        if any(len(f.text) > self.max_frame for f in frames):
            if len(batch.items) > 1:
                half = len(batch.items) // 2
                first = self._send_batch(Batch(batch.items[:half], batch.dropped))
                return self._send_batch(Batch(batch.items[half:], 0)) or first
            _warnings.warn("websocket: a frame for %s over %d bytes (one item) not sent", self.transport.peer,
                           self.max_frame, key="frame")
            self._missed += len(batch.items)
            frames = [f for f in frames if len(f.text) <= self.max_frame]
        if batch.dropped and self.route.drop_note:
            frames.insert(0, as_frame({"type": "dropped", "count": batch.dropped}))
        self._send_all(frames)
        return bool(frames)

    def _send_all(self, messages: Iterable[Out]) -> None:
        for message in messages:
            frame = as_frame(message)
            with self._send_lock, gevent.Timeout(self.send_timeout, SendTimeout):
                self.transport.send(frame.text)
            self._alive_at = time.monotonic()  # it takes our data: it is there
            self.route.on_sent(frame)

    def _address(self) -> str:
        return self.transport.peer.rsplit(":", 1)[0]

    def _timed_out(self) -> None:
        self.ended_by = "send timeout"
        _warnings.warn("websocket: %s took no data for %g s (--ws-send-timeout): connection cut",
                       self.transport.peer, self.send_timeout, key=self._address())

    def _library_close(self) -> str:
        """The library's own close (a message over its size limit), logged: "" if none."""
        reason = self.transport.server_closed()
        if reason:
            _warnings.warn("websocket: %s: %s: connection closed", self.transport.peer, reason,
                           key="library:" + self._address())
        return reason

    def _hang_up(self) -> None:
        if self.ended_by == "send timeout":
            self.transport.abort()
            return
        if not self.transport.connected:
            return
        try:  # a close frame is small, but the browser may have stopped reading just now
            with gevent.Timeout(self.send_timeout, SendTimeout):
                self.transport.close()
        except (SendTimeout, OSError, ConnectionClosed):
            self.transport.abort()


def feed(ws: Any, route: FeedRoute, topics: Iterable[str], limit: int, name: str, **options: Any) -> Feed:
    """A feed of this request's WebSocket on a subscription of its own; ``run()`` it."""
    from .context import services  # late: feed.py itself needs no app (the tests use none)

    svc = services()
    peer = f"{request.remote_addr}:{request.environ.get('REMOTE_PORT', '?')}"
    subscription = svc.bus.subscribe(topics, limit=limit, name=name)
    return Feed(WebSocketTransport(ws, peer), subscription, route, send_timeout=svc.settings.ws_send_timeout,
                idle_timeout=svc.settings.ws_idle_timeout, **options)


def serve(ws: Any, route: FeedRoute, topics: Iterable[str], limit: int, name: str, **options: Any) -> None:
    feed(ws, route, topics, limit, name, **options).run()
