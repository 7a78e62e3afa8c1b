"""The web chat's acks and duplicate detection, without a browser: RecentIds (the bounded
table of handled message ids) against a model of it, and ChatSession._dispatch driven with a
fake WebSocket: a repeated id is delivered once and acked again, and the table's limits
(per client, in all, by age) decide when an old id counts as new again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from sockets_core.chat.hub import ChatEvent, Member
from sockets_core.chat.limits import RecentIds
from tests.harness import FakeWebSocket, make_app
from webapp import chat_ws
from webapp.chat_ws import ChatSession

# -- the id table alone -----------------------------------------------------------------------


class ModelIds:
    """What RecentIds promises, the slow obvious way: entries in the order remembered."""

    def __init__(self, per_client: int, total: int, ttl: float) -> None:
        self.per_client, self.total, self.ttl = per_client, total, ttl
        self.entries: list[tuple[str, str, float, int]] = []  # client, id, when, event id

    def remember(self, client: str, message_id: str, now: float, event_id: int) -> float | None:
        if any((c, m) == (client, message_id) for c, m, _, _ in self.entries):
            return None
        while self.entries and now - self.entries[0][2] > self.ttl:
            self.entries.pop(0)
        mine = [e for e in self.entries if e[0] == client]
        if len(mine) >= self.per_client:
            self.entries.remove(mine[0])
        self.entries.append((client, message_id, now, event_id))
        if len(self.entries) > self.total:
            return now - self.entries.pop(0)[2]
        return None

    def event_id(self, client: str, message_id: str) -> int | None:
        return next((e for c, m, _, e in self.entries if (c, m) == (client, message_id)), None)


OPERATIONS = st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from(["1", "2", "3", "4", "5"]),
                                st.floats(0, 4), st.integers(0, 99)), max_size=60)


@settings(max_examples=150)
@given(OPERATIONS, st.integers(1, 4), st.integers(1, 8), st.floats(1, 10))
def test_recent_ids_behave_like_the_model(operations: list[tuple[str, str, float, int]], per_client: int,
                                          total: int, ttl: float) -> None:
    table, model = RecentIds(per_client, total, ttl), ModelIds(per_client, total, ttl)
    now = 0.0
    for client, message_id, step, event in operations:
        now += step
        assert table.remember(client, message_id, now, event) == model.remember(client, message_id, now, event)
        assert len(table) == len(model.entries) <= total
        for c in "abc":
            for m in "12345":
                assert table.seen(c, m) == (model.event_id(c, m) is not None)
                assert table.event_id(c, m) == model.event_id(c, m)


def test_each_client_keeps_its_newest_ids_and_the_first_event_id_stays() -> None:
    table = RecentIds(per_client=2, total=100, ttl=600)
    assert table.remember("tab", "m1", 0, event_id=7) is None
    assert table.remember("tab", "m1", 1, event_id=8) is None  # the same id again changes nothing
    assert table.event_id("tab", "m1") == 7
    table.remember("tab", "m2", 2)
    table.remember("tab", "m3", 3)
    assert not table.seen("tab", "m1") and table.seen("tab", "m2") and table.seen("tab", "m3")
    assert table.event_id("other", "m2") is None  # ids are per client


def test_ids_older_than_the_ttl_are_forgotten_and_a_young_eviction_reports_its_age() -> None:
    table = RecentIds(per_client=10, total=2, ttl=60)
    table.remember("a", "1", 0)
    table.remember("b", "1", 50)
    assert table.remember("c", "1", 55) == 55  # the total bound evicted a's id, 55 s old
    assert not table.seen("a", "1")
    assert table.remember("d", "1", 200) is None  # the rest had expired: nothing evicted
    assert len(table) == 1 and table.seen("d", "1")


# -- the session: what the browser sees --------------------------------------------------------

@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, disabled=frozenset({"tftp"}))  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def handled(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecentIds]:
    """A table of this test's own (the real one is process-wide)."""
    table = RecentIds(chat_ws.HANDLED_IDS_PER_CLIENT, chat_ws.HANDLED_IDS_TOTAL)
    monkeypatch.setattr(chat_ws, "_handled", table)
    yield table


def ask(session: ChatSession, message: dict[str, Any]) -> None:
    """What the feed's reader does with a request: each reply sent, then tapped (on_sent)."""
    for frame in session.on_request(message):
        session.ws.send(frame.text)
        session.on_sent(frame)


def tab(app: Flask, nick: str, client: str = "", port: int = 42000) -> tuple[ChatSession, FakeWebSocket]:
    ws = FakeWebSocket()
    with app.test_request_context("/ws/chat", environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(port)}):
        session = ChatSession(ws)
    ask(session, {"type": "hello", "nick": nick, "rooms": ["lobby"], "client": client})
    return session, ws


def listener(app: Flask, nick: str = "bob") -> list[ChatEvent]:
    heard: list[ChatEvent] = []
    app.extensions["sockdash"].hub.join(Member(nick, "tcp", heard.append, room="lobby"), time.time())
    return heard


def send(session: ChatSession, message_id: str, text: str, **extra: str) -> None:
    ask(session, {"type": "send", "id": message_id, "room": "lobby", "text": text, **extra})


def test_a_repeated_id_is_delivered_once_and_acked_every_time(app: Flask) -> None:
    heard = listener(app)
    session, ws = tab(app, "alice")
    for _ in range(3):
        send(session, "t:1", "only once")
    assert [e.text for e in heard if e.kind == "message"] == ["only once"]
    acks = ws.of_type("ack")
    assert len(acks) == 3 and "duplicate" not in acks[0]
    event_id = acks[0]["event"]["id"]
    assert acks[1:] == [{"type": "ack", "id": "t:1", "duplicate": True, "event_id": event_id}] * 2


def test_a_repeated_direct_message_reaches_its_reader_once(app: Flask) -> None:
    heard = listener(app, "bob")
    session, ws = tab(app, "alice")
    for _ in range(2):
        ask(session, {"type": "dm", "id": "d:1", "to": "bob", "text": "psst"})
    assert [e.text for e in heard if e.kind == "dm"] == ["psst"]
    assert [a.get("duplicate", False) for a in ws.of_type("ack")] == [False, True]


def test_a_repeated_command_is_run_once(app: Flask) -> None:
    session, ws = tab(app, "alice")
    send(session, "c:1", "/nick alicia")
    send(session, "c:1", "/nick alicia")
    assert session.member is not None and session.member.nick == "alicia"
    assert len(ws.of_type("nick")) == 1 and ws.of_type("ack")[-1]["duplicate"] is True


def test_messages_without_an_id_are_never_taken_for_repeats(app: Flask) -> None:
    heard = listener(app)
    session, ws = tab(app, "alice")
    send(session, "", "same text")
    send(session, "", "same text")
    assert [e.text for e in heard if e.kind == "message"] == ["same text", "same text"]
    assert [a.get("duplicate") for a in ws.of_type("ack")] == [None, None]


def test_the_same_tab_after_a_reload_is_recognised_by_its_secret_a_made_up_one_is_not(app: Flask) -> None:
    heard = listener(app)
    first, ws = tab(app, "alice")
    secret = ws.of_type("welcome")[0]["client"]
    send(first, "r:1", "before the reload")
    reloaded, ws2 = tab(app, "alice", secret, port=42001)
    send(reloaded, "r:1", "before the reload")
    forged, ws3 = tab(app, "mallory", "made-up-secret", port=42002)
    send(forged, "r:1", "before the reload")  # another client's id: its own message
    assert ws2.of_type("ack")[0]["duplicate"] is True and "duplicate" not in ws3.of_type("ack")[0]
    assert [e.text for e in heard if e.kind == "message"] == ["before the reload"] * 2


def test_past_the_per_client_window_an_old_id_is_new_again(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_ws, "_handled", RecentIds(per_client=3, total=100))
    heard = listener(app)
    session, _ = tab(app, "alice")
    for i in range(4):  # m0 .. m3: m0 falls out of alice's window of 3
        send(session, f"m{i}", f"text {i}")
    send(session, "m1", "text 1")  # still remembered
    send(session, "m0", "text 0")  # forgotten: posted again (a browser resends within seconds, not 3 sends later)
    assert [e.text for e in heard if e.kind == "message"] == ["text 0", "text 1", "text 2", "text 3", "text 0"]


def test_an_id_older_than_the_ttl_is_new_again(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chat_ws, "_handled", RecentIds(per_client=10, total=100, ttl=600))
    clock = [1_000_000.0]
    monkeypatch.setattr(chat_ws.time, "time", lambda: clock[0])
    heard = listener(app)
    session, _ = tab(app, "alice")
    send(session, "old", "first")
    clock[0] += 300
    send(session, "old", "first")  # within the ttl: a repeat
    send(session, "other", "second")
    clock[0] += 601
    send(session, "later", "third")  # remembering it forgets what is past the ttl
    send(session, "old", "first")
    assert [e.text for e in heard if e.kind == "message"] == ["first", "second", "third", "first"]


def test_a_refused_message_is_not_remembered(app: Flask) -> None:
    heard = listener(app)
    session, ws = tab(app, "alice")
    send(session, "x:1", "a\n" * 51)  # over MAX_LINES
    assert ws.frames[-1]["type"] == "error" and ws.frames[-1]["id"] == "x:1"
    send(session, "x:1", "fine now")
    assert [e.text for e in heard if e.kind == "message"] == ["fine now"]
    assert "duplicate" not in ws.of_type("ack")[-1]


# -- the cluster's shared state (webapp/chat_shared.py) when Redis does not answer -------------


class _DownRedis:
    """A Redis client whose every call fails as an unreachable server does."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("Redis is down")
        return fail


def test_an_unreachable_redis_leaves_the_web_chat_to_what_this_instance_knows(
        caplog: pytest.LogCaptureFixture) -> None:
    from sockets_core.chat.events import ChatEvent as Event
    from webapp.chat_shared import SharedChatState

    shared = SharedChatState(_DownRedis(), (ConnectionError,))
    assert shared.key(b"local key") == b"local key"
    assert shared.claim("secret", "m-1", 600) == (True, None)  # posted: nothing is lost
    shared.handled("secret", "m-1", 7, 600)
    shared.keep_dm("secret", "bob", Event("dm", "", "alice", "web", "psst", 1.0, to="bob", id=3), 200, 3600)
    assert shared.dms("secret", 3600) is None  # the caller replays this instance's copy
    assert "Redis unreachable" in caplog.text
