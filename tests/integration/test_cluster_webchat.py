"""A browser tab that reconnects to another instance (--bus, one Redis) is still the same tab:
its client secret is recognised there, a message it resends after the first instance acked
it is acked again instead of posted twice, and its direct messages come back on a reload."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simple_websocket

from tests import harness
from tests.harness import Sockdash, chat_client, recv_until
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)


@pytest.fixture
def pair(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Sockdash, Sockdash]]:  # noqa: F811
    a = harness.start(tmp_path / "A", "--bus", redis_server.url, "--instance-name", "A")
    b = harness.start(tmp_path / "B", "--bus", redis_server.url, "--instance-name", "B")
    try:
        yield a, b
    finally:
        for proc in (a, b):
            proc.stop()


_readers = itertools.count()


class Tab:
    """One browser tab's WebSocket to one instance."""

    def __init__(self, proc: Sockdash, nick: str, client: str = "") -> None:
        self.ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{proc.ports['http']}/ws/chat")
        self.ws.send(json.dumps({"type": "hello", "nick": nick, "rooms": ["lobby"], "client": client}))
        self.welcome = self.until("welcome", "error")  # error: the nick is still held (see reconnect)
        self.history = self.until("history") if self.welcome["type"] == "welcome" else {}

    def until(self, *kinds: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            if raw is None:
                continue
            message: dict[str, Any] = json.loads(raw)
            if message["type"] in kinds:
                return message
        raise AssertionError(f"no {kinds} frame")

    @staticmethod
    def members(proc: Sockdash) -> list[dict[str, Any]]:
        tab = Tab(proc, f"reader{next(_readers)}")
        try:
            return tab.until("members")["members"]  # type: ignore[no-any-return]
        finally:
            tab.close()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        self.ws.send(json.dumps(message))
        return self.until("ack", "error")

    def close(self) -> None:
        with contextlib.suppress(simple_websocket.ConnectionClosed):  # the server closed it already
            self.ws.close()


def reconnect(proc: Sockdash, nick: str, secret: str) -> Tab:
    """The page's reconnect to another instance: the old instance's leave reaches it through
    Redis a moment later, and until then the nick reads taken (no takeover across instances)."""
    def attempt() -> Tab | None:
        tab = Tab(proc, nick, secret)
        if tab.welcome["type"] == "welcome":
            return tab
        tab.close()
        return None
    tab = proc.wait_for(attempt, what=f"{nick} free on the other instance")
    assert tab is not None
    return tab


def lobby_texts(proc: Sockdash) -> list[str]:
    tab = Tab(proc, f"reader{next(_readers)}")  # a nick of its own: a closed reader's leave may lag
    try:
        return [event["text"] for event in tab.history["events"]]
    finally:
        tab.close()


def test_a_secret_issued_on_one_instance_is_recognised_on_another(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    first = Tab(a, "alice")
    secret = first.welcome["client"]
    first.close()
    again = reconnect(b, "alice", secret)
    try:
        assert again.welcome["client"] == secret  # not replaced by a new one: B knows A's key
    finally:
        again.close()
    stranger = Tab(b, "mallory", secret.split(".")[0] + ".forged")
    try:
        assert stranger.welcome["client"] != secret.split(".")[0] + ".forged"
    finally:
        stranger.close()


def test_a_resend_to_another_instance_is_acked_again_not_posted_twice(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    tab = Tab(a, "alice")
    secret = tab.welcome["client"]
    ack = tab.request({"type": "send", "id": "m-1", "room": "lobby", "text": "said once"})
    event_id = ack["event"]["id"]
    tab.close()  # its worker is gone; the page reconnects elsewhere and resends what it holds
    tab = reconnect(b, "alice", secret)
    try:
        again = tab.request({"type": "send", "id": "m-1", "room": "lobby", "text": "said once"})
        assert again["duplicate"] is True and again["event_id"] == event_id
        tab.request({"type": "send", "id": "m-2", "room": "lobby", "text": "marker"})
    finally:
        tab.close()
    b.wait_for(lambda: "marker" in lobby_texts(b), what="the marker in B's history")
    assert lobby_texts(b).count("said once") == 1
    a.wait_for(lambda: "marker" in lobby_texts(a), what="the marker in A's history")
    assert lobby_texts(a).count("said once") == 1


def test_direct_messages_come_back_on_a_reload_at_another_instance(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    bob = chat_client(b, "bob")
    with bob:
        tab = Tab(a, "alice")
        secret = tab.welcome["client"]
        tries = iter(range(100))  # until A knows bob (his presence comes through Redis): an error till then

        def dm() -> dict[str, Any] | None:
            ack = tab.request({"type": "dm", "id": f"d-{next(tries)}", "to": "bob", "text": "psst"})
            return ack if ack["type"] == "ack" else None
        ack = a.wait_for(dm, what="a direct message to bob accepted")
        assert ack is not None
        assert ack["event"]["text"] == "psst"
        recv_until(bob, b"psst")
        tab.close()
        tab = reconnect(b, "alice", secret)
        try:
            dms = tab.until("dms")
            assert [(e["text"], e["with"]) for e in dms["events"]] == [("psst", "bob")]
        finally:
            tab.close()


def test_a_tab_takes_its_nick_back_from_its_old_connection_on_another_instance(
        pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    old = Tab(a, "alice")  # its socket stays open: A has not noticed the tab is gone
    secret = old.welcome["client"]
    b.wait_for(lambda: "alice" in [m["nick"] for m in Tab.members(b)], what="alice known on B")
    stranger = Tab(b, "alice")  # no secret: the nick stays alice's
    try:
        assert stranger.welcome["type"] == "error" and "taken" in stranger.welcome["text"]
    finally:
        stranger.close()
    started = time.monotonic()
    new = Tab(b, "alice", secret)
    try:
        assert new.welcome["type"] == "welcome" and new.welcome["nick"] == "alice"
        assert time.monotonic() - started < 3.0  # within TAKEOVER_WAIT, not --ws-idle-timeout (120 s)
        with pytest.raises(simple_websocket.ConnectionClosed):  # A closed the old session
            old.until("never", timeout=5.0)
    finally:
        new.close()
        old.close()
