"""webapp.feed: the one WebSocket feed skeleton, driven through a fake socket (and once
through a real simple-websocket over a socketpair whose far end stops reading)."""

from __future__ import annotations

import json
import logging
import socket
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gevent
import pytest
from gevent.event import Event

from sockets_core.bus import Batch, Bus
from tests.harness import make_app, wait_for
from webapp.feed import Feed
from webapp.feed_route import FeedRoute, Out
from webapp.ws_transport import WebSocketTransport


class FakeTransport:
    """Frames sent, requests to hand out; ``block`` makes send wait until it is set (never)."""

    def __init__(self, *requests: Any) -> None:
        self.peer = "192.0.2.7:50000"
        self.connected = True
        self.sent: list[dict[str, Any]] = []
        self.requests: deque[str] = deque(r if isinstance(r, str) else json.dumps(r) for r in requests)
        self.arrived = Event()
        self.block: Event | None = None
        self.closed = self.aborted = False
        self.pings = 0
        self.answers = True  # the browser answers every ping with a pong
        self.pong = False  # a pong came since the feed last asked
        self.waiting = False  # bytes unread in the socket

    def receive(self, timeout: float) -> str | None:
        self.arrived.clear()
        if not self.requests:
            self.arrived.wait(timeout)
        if not self.connected:
            return None
        return self.requests.popleft() if self.requests else None

    def ask(self, request: Any) -> None:
        self.requests.append(request if isinstance(request, str) else json.dumps(request))
        self.arrived.set()

    def send(self, text: str) -> None:
        if self.block is not None:
            self.block.wait()
        self.sent.append(json.loads(text))

    def close(self) -> None:
        self.closed, self.connected = True, False

    def abort(self) -> None:
        self.aborted, self.connected = True, False

    def ping(self) -> None:
        self.pings += 1
        self.pong = self.pong or self.answers

    def pong_arrived(self) -> bool:
        arrived, self.pong = self.pong, False
        return arrived

    def has_input(self) -> bool:
        return self.waiting

    def server_closed(self) -> str:
        return ""

    def hang_up(self) -> None:
        """The browser closes."""
        self.connected = False
        self.arrived.set()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.sent if f["type"] == kind]


class ItemsRoute(FeedRoute):
    """One frame per batch: its items; a request {"say": x} is answered {"type": "said"}."""

    def __init__(self) -> None:
        self.closed = 0
        self.fail = False

    def opening(self) -> Iterable[Out]:
        return [{"type": "hello"}]

    def render(self, batch: Batch) -> Iterable[Out]:
        if self.fail:
            raise RuntimeError("a bug in render")
        return [{"type": "items", "items": [item for _, item in batch.items]}] if batch.items else []

    def on_request(self, message: dict[str, Any]) -> Iterable[Out]:
        if "say" not in message:
            raise ValueError("say what?")
        return [{"type": "said", "what": message["say"]}]

    def close(self) -> None:
        self.closed += 1


def start(transport: FakeTransport, route: FeedRoute | None = None, limit: int = 1000,
          **options: Any) -> tuple[Bus, Feed, gevent.Greenlet]:
    bus = Bus()
    feed = Feed(transport, bus.subscribe(["t"], limit=limit, name="test"), route or ItemsRoute(), **options)
    greenlet = gevent.spawn(feed.run)
    wait_for(lambda: transport.sent, 3, "the opening frame", sleep=gevent.sleep)
    return bus, feed, greenlet


def items_sent(transport: FakeTransport) -> list[Any]:
    return [item for frame in transport.of_type("items") for item in frame["items"]]


def test_what_arrives_together_goes_in_one_frame() -> None:
    transport = FakeTransport()
    bus, _feed, greenlet = start(transport)
    for i in range(50):  # published between two wakes of the writer
        bus.publish("t", i)
    wait_for(lambda: items_sent(transport) == list(range(50)), 3, "the 50 items", sleep=gevent.sleep)
    assert len(transport.of_type("items")) == 1
    transport.hang_up()
    greenlet.join(3)


def test_a_batch_over_the_frame_size_is_halved_and_nothing_is_lost() -> None:
    transport = FakeTransport()
    bus, _feed, greenlet = start(transport, max_frame=400)
    for i in range(100):
        bus.publish("t", "x" * 20 + str(i))  # ~25 bytes each: 2,500 bytes in all
    wait_for(lambda: len(items_sent(transport)) == 100, 3, "the 100 items", sleep=gevent.sleep)
    frames = transport.of_type("items")
    assert len(frames) > 6 and all(len(json.dumps(f)) <= 400 for f in frames)
    assert items_sent(transport) == ["x" * 20 + str(i) for i in range(100)]  # in order
    transport.hang_up()
    greenlet.join(3)


def test_an_item_alone_over_the_frame_size_is_counted_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport()
    bus, _feed, greenlet = start(transport, max_frame=200)
    with caplog.at_level(logging.WARNING, "webapp.feed"):
        bus.publish("t", "y" * 500)
        wait_for(lambda: "over 200 bytes" in caplog.text, 3, "the warning", sleep=gevent.sleep)
    bus.publish("t", "small")
    wait_for(lambda: transport.of_type("dropped"), 3, "the drop note", sleep=gevent.sleep)
    assert transport.of_type("dropped") == [{"type": "dropped", "count": 1}] and items_sent(transport) == ["small"]
    transport.hang_up()
    greenlet.join(3)


def test_drops_of_the_subscription_come_as_a_note_before_the_rest() -> None:
    transport = FakeTransport()
    bus, _feed, greenlet = start(transport, limit=3)
    transport.block = Event()  # the writer is stuck in a send while 10 items come
    bus.publish("t", "first")
    gevent.sleep(0)  # the writer takes "first" and blocks sending it
    for i in range(10):
        bus.publish("t", i)
    transport.block.set()
    transport.block = None
    wait_for(lambda: transport.of_type("dropped"), 3, "the drop note", sleep=gevent.sleep)
    assert transport.sent[2:] == [{"type": "dropped", "count": 7}, {"type": "items", "items": [7, 8, 9]}]
    transport.hang_up()
    greenlet.join(3)


def test_a_browser_that_stops_reading_is_cut_after_the_send_timeout(caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport()
    route = ItemsRoute()
    bus, feed, greenlet = start(transport, route, send_timeout=0.2)
    transport.block = Event()  # never set: the browser takes nothing more
    with caplog.at_level(logging.WARNING, "webapp.feed"):
        bus.publish("t", 1)
        assert greenlet.join(3) is None and greenlet.dead  # 0.2 s, not for ever
    assert transport.aborted and feed.ended_by == "send timeout"
    assert "192.0.2.7:50000 took no data for 0.2 s (--ws-send-timeout)" in caplog.text
    assert bus.subscriber_count() == 0 and route.closed == 1


def test_the_feed_ends_when_the_browser_closes() -> None:
    transport = FakeTransport()
    route = ItemsRoute()
    bus, feed, greenlet = start(transport, route, wait=30)  # the writer is not woken by its clock
    transport.hang_up()
    greenlet.join(3)
    assert greenlet.dead and feed.ended_by == "peer"
    assert bus.subscriber_count() == 0 and route.closed == 1 and not transport.aborted


def test_the_feed_ends_on_its_side_closing_the_socket_and_the_reader() -> None:
    transport = FakeTransport()
    route = ItemsRoute()
    bus, feed, greenlet = start(transport, route)
    route.fail = True
    bus.publish("t", 1)
    greenlet.join(3)
    assert greenlet.dead and feed.ended_by == "error"
    assert transport.closed and not transport.aborted  # a clean close frame
    assert bus.subscriber_count() == 0 and route.closed == 1


def test_requests_ping_pause_and_a_bad_frame_answered_in_order() -> None:
    transport = FakeTransport()
    bus, _feed, greenlet = start(transport)
    for request in ({"type": "ping", "id": 7}, "{oops", {"nothing": 1}, {"say": "hi"}, {"pause": True}):
        transport.ask(request)
    wait_for(lambda: transport.of_type("paused"), 3, "the pause", sleep=gevent.sleep)
    assert transport.sent[1:] == [
        {"type": "pong", "id": 7},
        {"type": "error", "error": "a request is JSON: Expecting property name enclosed in double quotes at "
                                  "character 1"},
        {"type": "error", "error": "say what?"},
        {"type": "said", "what": "hi"},
        {"type": "paused", "paused": True}]
    for i in range(5):
        bus.publish("t", i)
    transport.ask({"pause": "yes"})
    wait_for(lambda: len(transport.of_type("error")) == 3, 3, "the error", sleep=gevent.sleep)
    assert transport.of_type("error")[-1]["error"] == "'pause' must be true or false, not str"
    assert not transport.of_type("items")  # paused: nothing sent
    transport.ask({"pause": False})
    bus.publish("t", "after")
    wait_for(lambda: transport.of_type("items"), 3, "the items after the pause", sleep=gevent.sleep)
    assert transport.of_type("dropped") == [{"type": "dropped", "count": 5}]  # what the pause missed
    assert items_sent(transport) == ["after"]
    transport.hang_up()
    greenlet.join(3)


# -- the real WebSocket: simple-websocket over a socketpair ----------------------------------

def real_websocket(server_side: socket.socket, key: str, options: dict[str, Any] | None = None) -> Any:
    """flask-sock's server object on one end of a socketpair, as a request's environ gives it."""
    from simple_websocket import Server

    environ = {"werkzeug.socket": server_side, "HTTP_HOST": "localhost", "HTTP_CONNECTION": "Upgrade",
               "HTTP_UPGRADE": "websocket", "HTTP_SEC_WEBSOCKET_KEY": key, "HTTP_SEC_WEBSOCKET_VERSION": "13"}
    return Server(environ, thread_class=_Thread, event_class=Event, **(options or {}))


class _Thread(gevent.Greenlet):
    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self.name = "ws reader"


def client_connection() -> tuple[Any, str]:
    """A wsproto client that has asked to upgrade (the server side is given the request's key)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import Request

    connection = WSConnection(ConnectionType.CLIENT)
    request = connection.send(Request(host="localhost", target="/ws/test")).decode()
    key = next(line.split(":", 1)[1].strip() for line in request.split("\r\n")
               if line.lower().startswith("sec-websocket-key:"))
    return connection, key


class BigRoute(FeedRoute):
    def render(self, batch: Batch) -> Iterable[Out]:
        return [{"type": "big", "n": item, "pad": "z" * 60_000} for _, item in batch.items]


def test_a_real_websocket_gets_whole_frames_until_it_stops_reading_then_is_cut() -> None:
    from gevent import socket as gsocket
    from wsproto.events import AcceptConnection, TextMessage

    client, server_side = gsocket.socketpair()
    for s in (client, server_side):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16_384)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    connection, key = client_connection()
    ws = gevent.spawn(real_websocket, server_side, key)
    bus = Bus()
    feed = Feed(WebSocketTransport(ws.get(timeout=3), "192.0.2.8:1"), bus.subscribe(["t"], name="test"), BigRoute(),
                send_timeout=0.5)
    runner = gevent.spawn(feed.run)
    for i in range(40):  # 2.4 MB: far more than the buffers hold
        bus.publish("t", i)
    received: list[int] = []
    text = ""
    with gevent.Timeout(5):
        while len(received) < 10:  # a slow reader: every frame arrives whole (ws.send would cut some)
            connection.receive_data(client.recv(4096))
            for event in connection.events():  # a cut frame: a protocol error or JSON that does not parse
                assert not isinstance(event, AcceptConnection) or not received
                if isinstance(event, TextMessage):
                    text += event.data
                    if event.message_finished:
                        received.append(json.loads(text)["n"])
                        text = ""
    assert received == list(range(10))
    runner.join(3)  # then it stops reading: the feed cuts it within the send timeout
    assert runner.dead and feed.ended_by == "send timeout" and not ws.get().connected
    client.settimeout(3)
    while client.recv(1 << 20):  # what was in the buffers, then the end of the stream (not a hang)
        pass
    client.close()


# -- keepalive (the feed's own; flask-sock's ping check is off) -------------------------------

def test_a_browser_that_answers_no_ping_and_says_nothing_is_closed_after_the_idle_timeout(
        caplog: pytest.LogCaptureFixture) -> None:
    transport = FakeTransport()
    transport.answers = False  # a laptop gone from the network: no pong, no frame, no error
    _bus, feed, greenlet = start(transport, idle_timeout=0.3, wait=0.02)
    greenlet.join(3)
    assert greenlet.dead and feed.ended_by == "idle" and transport.pings >= 1 and transport.closed
    warnings = [r.getMessage() for r in caplog.records if "--ws-idle-timeout" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(
        "websocket: 192.0.2.7:50000 sent nothing, not even a pong, for 0.3 s (--ws-idle-timeout): closed")


def test_pongs_frames_and_unread_bytes_each_keep_a_quiet_browser() -> None:
    transport = FakeTransport()
    _bus, feed, greenlet = start(transport, idle_timeout=1.0, wait=0.02)  # a ping every 0.33 s
    answered = transport.pings
    wait_for(lambda: transport.pings >= answered + 4, 5, "pings answered by pongs", sleep=gevent.sleep)
    transport.answers = False  # from now on no pong reaches us
    transport.waiting = True  # but bytes wait unread (the process was busy): it is alive
    pinged = transport.pings
    wait_for(lambda: transport.pings >= pinged + 4, 5, "pings while bytes wait", sleep=gevent.sleep)
    transport.waiting = False
    for n in range(6):  # and requests: every frame it sends is a sign of life
        transport.ask({"say": n})
        wait_for(lambda n=n: transport.of_type("said")[n:], 3, "the answer", sleep=gevent.sleep)  # type: ignore[misc]
        gevent.sleep(0.3)  # a quiet browser: a request every 0.3 s, no pong
    assert not greenlet.dead and feed.ended_by == ""
    greenlet.join(5)  # now silent: closed
    assert feed.ended_by == "idle"


def test_a_real_browser_far_behind_on_reading_is_kept_and_answers_pings_in_its_turn(tmp_path: Path) -> None:
    """The benchmark's lost browsers: flask-sock's ping check (ping_interval) closed with 1008
    a browser more than one ping interval of data behind, the ping waiting in the stream
    behind that data. The app turns it off; the feed counts the data the browser takes."""
    from gevent import socket as gsocket
    from wsproto.events import Ping, TextMessage

    client, server_side = gsocket.socketpair()
    for s in (client, server_side):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16_384)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    connection, key = client_connection()
    # the options the app gives flask-sock; a library ping check, if it has one, at test speed
    options = dict(make_app(tmp_path).config["SOCK_SERVER_OPTIONS"])
    if options.get("ping_interval"):
        options["ping_interval"] = 0.3
    ws = gevent.spawn(real_websocket, server_side, key, options)
    bus = Bus()
    feed = Feed(WebSocketTransport(ws.get(timeout=3), "192.0.2.9:1"), bus.subscribe(["t"], name="test"), BigRoute(),
                send_timeout=5, idle_timeout=0.3, wait=0.02)
    runner = gevent.spawn(feed.run)
    publisher = gevent.spawn(lambda: [(bus.publish("t", i), gevent.sleep(0.05)) for i in range(40)])
    # 2.4 MB in 2 s, read at ~0.8 MB/s: seconds behind, many ping intervals and idle timeouts
    received: list[int] = []
    pings = 0
    text = ""
    with gevent.Timeout(10):
        while len(received) < 40:
            connection.receive_data(client.recv(4096))
            for event in connection.events():
                if isinstance(event, Ping):
                    pings += 1
                    client.sendall(connection.send(event.response()))
                elif isinstance(event, TextMessage):
                    text += event.data
                    if event.message_finished:
                        received.append(json.loads(text)["n"])
                        text = ""
            gevent.sleep(0.005)
    assert received == list(range(40)) and pings >= 3 and not runner.dead and feed.ended_by == ""
    publisher.join()
    client.close()
    runner.join(3)
    assert runner.dead and feed.ended_by in ("peer", "send failed")  # its close, or our ping into it


def test_a_message_over_the_library_limit_closes_with_a_warning_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    from gevent import socket as gsocket
    from wsproto.events import AcceptConnection, TextMessage

    client, server_side = gsocket.socketpair()
    connection, key = client_connection()
    ws = gevent.spawn(real_websocket, server_side, key, {"max_message_size": 100})
    feed = Feed(WebSocketTransport(ws.get(timeout=3), "192.0.2.10:1"), Bus().subscribe(["t"], name="test"),
                ItemsRoute(), wait=0.05)
    runner = gevent.spawn(feed.run)
    with gevent.Timeout(3):  # the server's accept first
        while not any(isinstance(e, AcceptConnection) for e in connection.events()):
            connection.receive_data(client.recv(4096))
    client.sendall(connection.send(TextMessage(data="x" * 200)))
    runner.join(3)
    assert runner.dead and feed.ended_by == "a message over 100 bytes (limit)"
    assert any(r.getMessage().startswith("websocket: 192.0.2.10:1: a message over 100 bytes (limit): connection "
                                         "closed") for r in caplog.records)
    client.close()
