"""The web chat session (webapp/chat_ws.py) driven directly: what a browser sends cannot
grow the server, the room list is not resent on every join and leave, a resend is acked
and not posted twice, commands answer the sender only, a tab's direct messages come back
after a reload, and older history comes page by page."""

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from flask import Flask
from gevent.event import Event

from sockets_core.bus import Bus
from sockets_core.chat.history import ChatHistory
from sockets_core.chat.hub import ChatEvent, Member
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Endpoint, Services
from sockets_core.settings import Settings
from tests.harness import FakeWebSocket, wait_for
from webapp import chat_frames, chat_talk, chat_ws, create_app
from webapp.chat_ws import ChatSession


def ask(session: ChatSession, message: dict[str, Any]) -> None:
    """What the feed's reader does with a request: each reply sent, then tapped (on_sent)."""
    for frame in session.on_request(message):
        session.ws.send(frame.text)
        session.on_sent(frame)


def snapshots(session: ChatSession, now: float) -> None:
    """What the writer sends of the snapshots due at ``now``."""
    for frame in session._snapshots(now=now):
        session.ws.send(frame.text)


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
        ask(session, {"type": "hello", "nick": "alice", "rooms": ["lobby"]})
        yield session, ws


def test_a_long_message_id_is_refused_without_being_echoed(browser: tuple[ChatSession, FakeWebSocket]) -> None:
    session, ws = browser
    heard: list[ChatEvent] = []
    session.hub.join(Member("bob", "tcp", heard.append), 0.0)
    ask(session, {"type": "send", "id": "x" * 60_000, "room": "lobby", "text": "hi"})
    error = ws.frames[-1]
    assert error["type"] == "error" and error["id"] is None and "longer than 64 characters" in error["text"]
    assert not ws.of_type("ack") and not [e for e in heard if e.kind == "message"]
    ask(session, {"type": "send", "id": "y" * 64, "room": "lobby", "text": "hi"})
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
            ask(session, {"type": "send", "id": f"m{i}", "room": "lobby", "text": "flood"})
    assert len(chat_ws._handled) == 50
    assert len([r for r in caplog.records if "message ids remembered (limit)" in r.getMessage()]) == 1


def test_a_browser_joining_and_leaving_in_a_loop_gets_the_room_list_rarely(
        browser: tuple[ChatSession, FakeWebSocket]) -> None:
    session, ws = browser
    ws.frames.clear()
    for i in range(50):
        ask(session, {"type": "join", "room": f"r{i % 10}"})
        ask(session, {"type": "leave", "room": f"r{i % 10}"})
    assert len(ws.of_type("history")) == 50  # every join is answered with its room's state
    assert len(ws.of_type("rooms")) <= 2  # but the room list at most once a second


def test_snapshots_go_out_at_most_once_a_second_and_only_after_a_change(
        browser: tuple[ChatSession, FakeWebSocket]) -> None:
    session, ws = browser
    ws.frames.clear()
    bob = Member("bob", "tcp", lambda e: None)
    now = time.time()
    session.hub.join(bob, now)  # the lobby's count changes
    snapshots(session, now=1_000.0)
    assert ws.frames == [{"type": "rooms", "rooms": {"lobby": 2}}]  # the first change after a quiet while: at once
    session.hub.switch(bob, "games", now)
    session._stale_members.add("lobby")
    snapshots(session, now=1_000.5)
    assert len(ws.frames) == 1  # too soon: it waits
    snapshots(session, now=1_001.1)
    assert [f["type"] for f in ws.frames] == ["rooms", "members", "rooms"]
    assert ws.frames[2]["rooms"] == {"games": 1, "lobby": 1}
    ws.frames.clear()
    snapshots(session, now=1_005.0)
    assert ws.frames == []  # nothing changed: nothing sent
    session.hub.switch(bob, "lobby", now)
    snapshots(session, now=1_005.1)
    assert ws.frames == [{"type": "rooms", "rooms": {"games": 0, "lobby": 2}}]


def test_the_room_list_is_serialised_once_per_change_for_every_browser(app: Flask) -> None:
    hub = app.extensions["sockdash"].hub
    first = chat_frames.rooms_frame(hub)
    assert chat_frames.rooms_frame(hub) is first
    hub.join(Member("carol", "tcp", lambda e: None), 0.0)
    assert chat_frames.rooms_frame(hub) is not first and '"lobby":1' in chat_frames.rooms_frame(hub)


def test_hello_looks_only_at_as_many_rooms_as_a_client_may_join(app: Flask) -> None:
    ws = FakeWebSocket()
    rooms = [f"r{i}" for i in range(20)] + ["not a room"] * 100_000
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40001"}):
        session = ChatSession(ws)
        ask(session, {"type": "hello", "nick": "dora", "rooms": rooms})
    welcome = ws.of_type("welcome")[0]
    assert welcome["joined"] == sorted(rooms[:20]) and not ws.of_type("error")


# -- the page's second pass (issue #11): acks and duplicates, commands, private messages, older history --
def connect(app: Flask, nick: str, client: str = "", rooms: list[str] | None = None,
            port: int = 41000) -> tuple[ChatSession, FakeWebSocket]:
    """A browser tab saying hello (``client``: the secret a previous welcome gave it)."""
    ws = FakeWebSocket()
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(port)}):
        session = ChatSession(ws)
    ask(session, {"type": "hello", "nick": nick, "rooms": rooms or ["lobby"], "client": client})
    assert ws.of_type("welcome"), ws.frames
    return session, ws


def listener(app: Flask, nick: str = "bob", room: str = "lobby") -> list[ChatEvent]:
    heard: list[ChatEvent] = []
    app.extensions["sockdash"].hub.join(Member(nick, "tcp", heard.append, room=room), time.time())
    return heard


def said(heard: list[ChatEvent], kind: str = "message") -> list[str]:
    return [e.text for e in heard if e.kind == kind]


def test_a_resend_after_a_reconnect_is_acked_again_naming_its_event_and_posted_once(app: Flask) -> None:
    heard = listener(app)
    first, ws = connect(app, "alice")
    secret = ws.of_type("welcome")[0]["client"]
    ask(first, {"type": "send", "id": "tab:1", "room": "lobby", "text": "once only"})
    ack = ws.of_type("ack")[0]
    assert ack["id"] == "tab:1" and ack["event"]["text"] == "once only" and ack["event"]["id"] > 0
    # the connection drops before the browser read the ack: the tab comes back and resends
    again, ws2 = connect(app, "alice", secret, port=41001)
    ask(again, {"type": "send", "id": "tab:1", "room": "lobby", "text": "once only"})
    assert ws2.of_type("ack") == [{"type": "ack", "id": "tab:1", "duplicate": True, "event_id": ack["event"]["id"]}]
    assert said(heard) == ["once only"]
    # a different tab may well use the same id: it is its own message
    other, ws3 = connect(app, "carol", port=41002)
    ask(other, {"type": "send", "id": "tab:1", "room": "lobby", "text": "mine too"})
    assert ws3.of_type("ack")[0].get("duplicate") is None and said(heard) == ["once only", "mine too"]


def test_a_refused_message_is_an_error_naming_its_id_and_may_be_sent_again(app: Flask) -> None:
    heard = listener(app, room="lab")
    session, ws = connect(app, "alice")
    ask(session, {"type": "send", "id": "m1", "room": "lab", "text": "hello lab"})
    assert ws.frames[-1] == {"type": "error", "id": "m1", "request": "send", "text": "you are not in #lab"}
    ask(session, {"type": "join", "room": "lab"})
    ask(session, {"type": "send", "id": "m1", "room": "lab", "text": "hello lab"})
    assert ws.frames[-1]["type"] == "ack" and "duplicate" not in ws.frames[-1] and said(heard) == ["hello lab"]


def test_slash_commands_answer_the_sender_and_never_reach_the_room_or_its_history(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    app = app_with(tmp_path, history)
    heard = listener(app)
    session, ws = connect(app, "alice")
    ws.frames.clear()
    for n, text in enumerate(["/msg bob psst", "/who", "/nick alicia", "/join lab", "/bogus thing", "//etc/hosts",
                              "/me waves", "/leave lab"]):
        ask(session, {"type": "send", "id": f"c{n}", "room": "lobby", "text": text})
    acks = {f["id"]: f for f in ws.of_type("ack")}
    assert acks["c0"]["replies"] == ["-> bob: psst"] and acks["c0"]["event"]["kind"] == "dm"
    assert [e.text for e in heard if e.kind == "dm"] == ["psst"]
    assert acks["c1"]["replies"] == ["in #lobby: alice (web), bob (tcp)"]
    assert acks["c2"]["replies"] == ["you are now alicia"] and {"type": "nick", "nick": "alicia"} in ws.frames
    assert acks["c3"]["entered"] == "lab" and acks["c3"]["replies"] == ["you are in #lab: alicia (web)"]
    assert [f["room"] for f in ws.of_type("history")] == ["lab"]  # the room's state came before the ack
    assert ws.frames.index(ws.of_type("history")[0]) < ws.frames.index(acks["c3"])
    error = next(f for f in ws.of_type("error") if f["id"] == "c4")
    assert error["text"].startswith("unknown command /bogus; commands: ")
    assert acks["c6"]["event"]["kind"] == "action" and acks["c7"]["left"] == "lab"
    assert session.member is not None and session.member.rooms == {"lobby"}  # /join added a room, /leave took it
    # bob heard the message starting with a slash and the action; no command text at all
    assert said(heard) == ["/etc/hosts"] and said(heard, "action") == ["waves"]
    assert [(e.kind, e.text) for e in history.recent("lobby")] == [("message", "/etc/hosts"), ("action", "waves")]
    history.close()


def test_a_command_typed_in_a_private_conversation_needs_a_room_only_where_it_must(app: Flask) -> None:
    listener(app)
    session, ws = connect(app, "alice")
    ask(session, {"type": "send", "id": "p1", "room": "", "text": "/me waves"})
    assert ws.frames[-1]["type"] == "error" and "private conversation" in ws.frames[-1]["text"]
    ask(session, {"type": "send", "id": "p2", "room": "", "text": "/who lobby"})
    assert ws.frames[-1]["replies"] == ["in #lobby: alice (web), bob (tcp)"]
    ask(session, {"type": "send", "id": "p3", "room": "lobby", "text": "/who\nsecond line"})
    assert ws.frames[-1]["type"] == "error" and "a command is one line" in ws.frames[-1]["text"]


def test_a_message_of_several_lines_is_one_event_and_a_line_each_for_native_clients(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    heard = listener(app)
    session, ws = connect(app, "alice")
    ask(session, {"type": "send", "id": "l1", "room": "lobby", "text": "\nfirst\r\n  second\x1b[2J\n\n"})
    event = next(e for e in heard if e.kind == "message")
    assert event.text == "first\n  second\\x1b[2J"
    assert [line.split("> ", 1)[1] for line in event.as_line().splitlines()] == ["first", "  second\\x1b[2J"]
    for n in range(3):  # over the limit, in a loop: refused each time, one warning line
        ask(session, {"type": "send", "id": f"x{n}", "room": "lobby", "text": "a\n" * 51})
        assert ws.frames[-1]["type"] == "error" and "at most 50 lines (this one has 51)" in ws.frames[-1]["text"]
    assert len([r for r in caplog.records if "over 50 lines (limit)" in r.getMessage()]) == 1
    assert said(heard) == ["first\n  second\\x1b[2J"]


def test_direct_messages_come_back_to_the_same_tab_after_a_reload_and_to_no_one_else(app: Flask) -> None:
    bob, _ = connect(app, "bob", port=41001)
    alice, ws = connect(app, "alice")
    secret = ws.of_type("welcome")[0]["client"]
    ask(alice, {"type": "dm", "id": "d1", "to": "bob", "text": "are you there?"})
    ask(bob, {"type": "send", "id": "d2", "room": "lobby", "text": "/msg alice yes, here"})
    ask(alice, {"type": "send", "id": "d3", "room": "lobby", "text": "in the room"})
    reloaded, ws2 = connect(app, "alice", secret, port=41002)  # the reload: same tab, same secret
    replay = ws2.of_type("dms")
    assert [(e["with"], e["nick"], e["text"]) for e in replay[0]["events"]] == [
        ("bob", "alice", "are you there?"), ("bob", "bob", "yes, here")]
    assert all(e["id"] > 0 for e in replay[0]["events"])
    # someone else taking the nick later, without the secret, gets none of them
    alice.hub.leave(reloaded.member, time.time())  # type: ignore[arg-type]
    _, stranger = connect(app, "alice", port=41003)
    assert stranger.of_type("dms") == []
    # and the packet log keeps the replay and the /msg ack private
    events = app.extensions["sockdash"].packetlog.events(service="web_chat")
    carrying = [e for e in events if b"are you there" in e.payload or b"yes, here" in e.payload]
    assert carrying and all(e.private for e in carrying)
    assert chat_talk.carries_dm({"type": "send", "text": " /MSG bob x"}) and not chat_talk.carries_dm(
        {"type": "send", "text": "//msg bob x"})
    # blank lines before it are dropped before the command runs: still a direct message
    for text in ("\n/msg bob x", "\r\n/msg bob x", " \n /msg bob x"):
        assert chat_talk.carries_dm({"type": "send", "text": text}), text


def test_older_history_comes_page_by_page_with_before(tmp_path: Path) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    app = app_with(tmp_path, history)
    hub = app.extensions["sockdash"].hub
    talker = Member("talker", "tcp", lambda e: None)
    hub.join(talker, 0.0)
    for i in range(450):
        hub.say(talker, f"m{i}", 1.0 + i)
    session, ws = connect(app, "reader")
    first = ws.of_type("history")[0]
    assert [e["text"] for e in first["events"]] == [f"m{i}" for i in range(250, 450)] and first["more"] is True
    pages = [first]
    while pages[-1]["more"]:
        ask(session, {"type": "history", "room": "lobby", "before": pages[-1]["events"][0]["id"]})
        pages.append(ws.of_type("history")[-1])
    assert [len(p["events"]) for p in pages] == [200, 200, 50]
    assert [e["text"] for p in reversed(pages) for e in p["events"]] == [f"m{i}" for i in range(450)]
    ask(session, {"type": "history", "room": "elsewhere", "before": 5})
    assert ws.frames[-1]["text"] == "you are not in #elsewhere"
    ask(session, {"type": "history", "room": "lobby", "before": "5"})
    assert ws.frames[-1]["text"] == "before is the id of a message"
    # past SQLite's 64-bit integers: an error frame, not an OverflowError ending the session
    ask(session, {"type": "history", "room": "lobby", "before": 99999999999999999999999})
    assert ws.frames[-1]["text"] == "before is the id of a message"
    history.close()


def app_with(tmp_path: Path, history: ChatHistory) -> Flask:
    settings = Settings(root=tmp_path, disabled=frozenset({"tftp"}))
    services = Services(settings, Bus(), PacketLog(Bus()), FileStore(tmp_path), history=history)
    services.http = Endpoint("0.0.0.0", 8000)
    return create_app(services, "unit-test-token", [], {"TESTING": True})


# -- the tab as a feed (webapp/feed.py): a send timeout, what a slow tab lost --------------------
class StoppedReading(FakeWebSocket):
    """A tab that said hello, got its welcome and then stopped reading: a send waits for ever."""

    def __init__(self, hello: dict[str, Any]) -> None:
        super().__init__()
        self.incoming = [json.dumps(hello)]
        self.reading = True
        self.arrived = Event()

    def receive(self, timeout: float | None = None) -> str | None:
        if self.incoming:
            return self.incoming.pop(0)
        self.arrived.wait(timeout)  # nothing more from this tab
        return None

    def send(self, text: str) -> None:
        if not self.reading:
            Event().wait()  # the socket buffers are full: until the feed's send timeout
        super().send(text)


def test_a_tab_that_stops_reading_is_cut_after_the_send_timeout_and_its_nick_freed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(root=tmp_path, disabled=frozenset({"tftp"}), ws_send_timeout=0.3)
    services = Services(settings, Bus(), PacketLog(Bus()), FileStore(tmp_path))
    app = create_app(services, "unit-test-token", [], {"TESTING": True})
    ws = StoppedReading({"type": "hello", "nick": "frozen", "rooms": ["lobby"]})
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40009"}):
        session = ChatSession(ws)
        tab = gevent.spawn(session.run)
    wait_for(lambda: ws.of_type("welcome"), 3, "the welcome", sleep=gevent.sleep)
    ws.reading = False
    talker = Member("talker", "tcp", lambda e: None)
    services.hub.join(talker, time.time())
    services.hub.say(talker, "anyone there?", time.time())  # its writer blocks sending this
    tab.join(3)
    assert tab.dead and services.hub.find("frozen") is None  # the nick is free again
    assert session.feed is not None and session.feed.ended_by == "send timeout" and ws.connected is False
    assert any("took no data for 0.3 s (--ws-send-timeout)" in r.getMessage() for r in caplog.records)


def test_what_a_slow_tab_lost_is_told_to_it_counted_in_the_status_and_logged(
        app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(chat_ws, "QUEUE_LIMIT", 5)
    session, ws = connect(app, "slow")
    talker = Member("talker", "tcp", lambda e: None)
    session.hub.join(talker, time.time())  # a join event: 1 queued
    for n in range(8):  # 9 events for a queue of 5: the 4 oldest are dropped
        session.hub.say(talker, f"m{n}", time.time())
    for _ in range(2):  # a second batch: nothing more lost, nothing counted twice
        for frame in session.render(session._queue.get_batch(timeout=0)):
            ws.send(frame.text)
            session.on_sent(frame)
    assert ws.of_type("lost") == [{"type": "lost", "count": 4}]
    assert [e["text"] for f in ws.of_type("events") for e in f["events"]] == [f"m{n}" for n in range(3, 8)]
    status = app.extensions["sockdash"].status()
    assert status["web_chat"]["delivery"] == {"queue_events": 5, "lagged": 1, "dropped_events": 4}
    assert [r.levelname for r in caplog.records if "fell behind: 4 events dropped (queue limit 5 per browser tab)"
            in r.getMessage()] == ["WARNING"]
