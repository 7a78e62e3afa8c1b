"""The web chat session (webapp/chat_ws.py) driven directly: what a browser sends cannot
grow the server, and the room list is not resent on every join and leave."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from sockets_core.bus import Bus
from sockets_core.chat.hub import ChatEvent, Member
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Endpoint, Services
from sockets_core.settings import Settings
from webapp import chat_ws, create_app
from webapp.chat_ws import ChatSession


class FakeWebSocket:
    connected = True

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    settings = Settings(root=tmp_path, disabled=frozenset({"tftp"}))
    services = Services(settings, Bus(), PacketLog(Bus()), FileStore(tmp_path))
    services.http = Endpoint("0.0.0.0", 8000)
    return create_app(services, "unit-test-token", [], {"TESTING": True})


@pytest.fixture
def browser(app: Flask) -> Iterator[tuple[ChatSession, FakeWebSocket]]:
    ws = FakeWebSocket()
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000"}):
        session = ChatSession(ws)
        session._dispatch({"type": "hello", "nick": "alice", "rooms": ["lobby"]})
        yield session, ws


def test_a_long_message_id_is_refused_without_being_echoed(browser: tuple[ChatSession, FakeWebSocket]) -> None:
    session, ws = browser
    heard: list[ChatEvent] = []
    session.hub.join(Member("bob", "tcp", heard.append), 0.0)
    session._dispatch({"type": "send", "id": "x" * 60_000, "room": "lobby", "text": "hi"})
    error = ws.frames[-1]
    assert error["type"] == "error" and error["id"] is None and "longer than 64 characters" in error["text"]
    assert not ws.of_type("ack") and not [e for e in heard if e.kind == "message"]
    session._dispatch({"type": "send", "id": "y" * 64, "room": "lobby", "text": "hi"})
    assert ws.frames[-1]["type"] == "ack" and [e.text for e in heard if e.kind == "message"] == ["hi"]


def test_message_ids_are_bounded_in_total_across_clients(browser: tuple[ChatSession, FakeWebSocket],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    from sockets_core.chat.limits import RecentIds

    session, _ = browser
    monkeypatch.setattr(chat_ws, "_handled", RecentIds(per_client=200, total=50))
    for n in range(30):  # a client that makes up a new secret for each message
        session.client = f"client-{n}"
        for i in range(5):
            session._dispatch({"type": "send", "id": f"m{i}", "room": "lobby", "text": "flood"})
    assert len(chat_ws._handled) == 50
    assert len([r for r in caplog.records if "message ids remembered (limit)" in r.getMessage()]) == 1


def test_a_browser_joining_and_leaving_in_a_loop_gets_the_room_list_rarely(
        browser: tuple[ChatSession, FakeWebSocket]) -> None:
    session, ws = browser
    ws.frames.clear()
    for i in range(50):
        session._dispatch({"type": "join", "room": f"r{i % 10}"})
        session._dispatch({"type": "leave", "room": f"r{i % 10}"})
    assert len(ws.of_type("history")) == 50  # every join is answered with its room's state
    assert len(ws.of_type("rooms")) <= 2  # but the room list at most once a second


def test_snapshots_go_out_at_most_once_a_second_and_only_after_a_change(
        browser: tuple[ChatSession, FakeWebSocket]) -> None:
    session, ws = browser
    ws.frames.clear()
    bob = Member("bob", "tcp", lambda e: None)
    now = time.time()
    session.hub.join(bob, now)  # the lobby's count changes
    session._send_snapshots(now=1_000.0)
    assert ws.frames == [{"type": "rooms", "rooms": {"lobby": 2}}]  # the first change after a quiet while: at once
    session.hub.switch(bob, "games", now)
    session._stale_members.add("lobby")
    session._send_snapshots(now=1_000.5)
    assert len(ws.frames) == 1  # too soon: it waits
    session._send_snapshots(now=1_001.1)
    assert [f["type"] for f in ws.frames] == ["rooms", "members", "rooms"]
    assert ws.frames[2]["rooms"] == {"games": 1, "lobby": 1}
    ws.frames.clear()
    session._send_snapshots(now=1_005.0)
    assert ws.frames == []  # nothing changed: nothing sent
    session.hub.switch(bob, "lobby", now)
    session._send_snapshots(now=1_005.1)
    assert ws.frames == [{"type": "rooms", "rooms": {"games": 0, "lobby": 2}}]


def test_the_room_list_is_serialised_once_per_change_for_every_browser(app: Flask) -> None:
    hub = app.extensions["sockdash"].hub
    first = chat_ws._rooms_frame(hub)
    assert chat_ws._rooms_frame(hub) is first
    hub.join(Member("carol", "tcp", lambda e: None), 0.0)
    assert chat_ws._rooms_frame(hub) is not first and '"lobby":1' in chat_ws._rooms_frame(hub)


def test_hello_looks_only_at_as_many_rooms_as_a_client_may_join(app: Flask) -> None:
    ws = FakeWebSocket()
    rooms = [f"r{i}" for i in range(20)] + ["not a room"] * 100_000
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40001"}):
        session = ChatSession(ws)
        session._dispatch({"type": "hello", "nick": "dora", "rooms": rooms})
    welcome = ws.of_type("welcome")[0]
    assert welcome["joined"] == sorted(rooms[:20]) and not ws.of_type("error")
