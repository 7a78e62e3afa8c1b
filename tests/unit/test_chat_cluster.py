"""Several chat hubs = several instances on ONE shared in-memory bus and ONE shared
MemoryPresence: a perfect cluster without Redis. What works here works on Redis, which
carries the same JSON-able items (sockets_core/bus.py's contract)."""

import json
from pathlib import Path
from typing import Any

import pytest

from sockets_core.bus import Bus, Subscription
from sockets_core.chat.commands import run_command
from sockets_core.chat.history import ChatHistory
from sockets_core.chat.hub import CHAT_TOPIC, ChatError, ChatEvent, ChatHub, Member
from sockets_core.chat.presence import LIVENESS_TTL, MemoryPresence


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    def __init__(self, *names: str, bus: Any = None, histories: Path | None = None) -> None:
        self.clock = Clock()
        self.presence = MemoryPresence(clock=self.clock)
        self.bus = bus or Bus()
        self.hubs = {name: ChatHub(self.bus, ChatHistory(histories / f"{name}.sqlite3") if histories else None,
                                   presence=self.presence, instance=name) for name in names}

    def __getitem__(self, name: str) -> ChatHub:
        return self.hubs[name]

    def pump(self) -> None:
        """What the instances' consumer greenlets do: each takes what the bus brought it."""
        for _ in range(3):  # answers (rosters) to what the others took
            for hub in self.hubs.values():
                hub.delivery.drain()


def member(hub: ChatHub, nick: str, transport: str = "tcp", room: str = "lobby") -> tuple[Member, list[ChatEvent]]:
    inbox: list[ChatEvent] = []
    m = Member(nick, transport, inbox.append, room=room)
    hub.join(m, 0.0)
    return m, inbox


def said(inbox: list[ChatEvent]) -> list[str]:
    return [e.text for e in inbox if e.kind in ("message", "dm")]


def test_a_tcp_member_on_a_and_a_web_member_on_b_get_each_message_once() -> None:
    c = Cluster("A", "B")
    alice, alice_in = member(c["A"], "alice", "tcp")
    wendy, wendy_in = member(c["B"], "wendy", "web")
    c.pump()
    c["A"].say(alice, "hi from tcp", 1.0)
    c["B"].say(wendy, "hi from web", 1.0)
    c.pump()
    c.pump()  # pumping again finds nothing new
    assert said(alice_in) == ["hi from web"] and said(wendy_in) == ["hi from tcp"]
    # the bus handing an item over again (a replay after an outage) delivers nothing twice
    again = c.bus.subscribe([CHAT_TOPIC])
    c["A"].say(alice, "once", 2.0)
    item = next(i for _, i in again.get_batch(timeout=0).items if i["kind"] == "message")
    c.bus.publish(CHAT_TOPIC, json.loads(json.dumps(item)))
    c.pump()
    assert said(wendy_in) == ["hi from tcp", "once"]


def test_names_and_the_room_list_on_b_show_the_members_of_a() -> None:
    c = Cluster("A", "B")
    alice, _ = member(c["A"], "alice", "tcp")
    wendy, wendy_in = member(c["B"], "wendy", "web")
    c.pump()
    assert [(m.nick, m.transport) for m in c["B"].who("lobby")] == [("alice", "tcp"), ("wendy", "web")]
    assert run_command(c["B"], wendy, "/who", 1.0).replies == ["in #lobby: alice (tcp), wendy (web)"]
    c["A"].switch(alice, "lab", 1.0)
    c.pump()
    assert c["B"].rooms() == {"lab": 1, "lobby": 1}
    assert [(e.kind, e.nick, e.room) for e in wendy_in][-1] == ("leave", "alice", "lobby")  # told as it happens
    c["A"].rename(alice, "al", 2.0)
    c.pump()
    assert [m.nick for m in c["B"].who("lab")] == ["al"] and c["B"].lookup("alice") is None
    c["A"].leave(alice, 3.0)
    c.pump()
    assert c["B"].who("lab") == [] and len(c["B"].remote) == 0


def test_a_nick_taken_on_a_is_refused_on_b_even_before_b_heard_of_it() -> None:
    c = Cluster("A", "B")
    alice, _ = member(c["A"], "alice")
    # B has not consumed A's items yet: the claim in the shared Presence refuses it
    with pytest.raises(ChatError, match="nick ALICE is taken"):
        member(c["B"], "ALICE", "web")
    wendy, _ = member(c["B"], "wendy", "web")
    with pytest.raises(ChatError, match="taken"):
        c["B"].rename(wendy, "Alice", 1.0)
    c["A"].rename(alice, "al", 1.0)  # the old nick is free again, everywhere
    c.pump()
    c["B"].rename(wendy, "alice", 2.0)
    assert c["B"].find("alice") is wendy
    with pytest.raises(ChatError, match="taken"):
        member(c["A"], "Alice")


def test_a_direct_message_crosses_instances_to_its_recipient_only() -> None:
    c = Cluster("A", "B")
    _alice, alice_in = member(c["A"], "alice")
    wendy, wendy_in = member(c["B"], "wendy", "web")
    c.pump()
    dm = c["B"].direct(wendy, "ALICE", "psst", 1.0)
    assert dm.to == "alice"
    c.pump()
    assert [(e.kind, e.nick, e.text) for e in alice_in if e.kind == "dm"] == [("dm", "wendy", "psst")]
    assert not [e for e in wendy_in if e.kind == "dm"]
    with pytest.raises(ChatError, match="no one called nobody"):
        c["B"].direct(wendy, "nobody", "x", 1.0)


def test_an_instance_that_stops_beating_leaves_within_the_liveness_timeout_told_once_per_member() -> None:
    c = Cluster("A", "B", "C")
    member(c["A"], "alice")
    _bob, bob_in = member(c["B"], "bob")
    _carol, carol_in = member(c["C"], "carol")
    c.pump()
    c.clock.now = LIVENESS_TTL - 0.5
    for name in ("B", "C"):  # A was killed at 0: it never beats again
        c[name].beat()
        c[name].sweep(100.0)
    assert [m.nick for m in c["B"].who("lobby")] == ["alice", "bob", "carol"]  # not yet
    c.clock.now = LIVENESS_TTL + 0.5
    for name in ("B", "C"):
        c[name].beat()
        c[name].sweep(100.0)
    c.pump()
    for inbox in (bob_in, carol_in):
        assert [(e.kind, e.nick, e.room) for e in inbox if e.nick == "alice"][-1:] == [("leave", "alice", "lobby")]
        assert len([e for e in inbox if e.kind == "leave" and e.nick == "alice"]) == 1
    assert [m.nick for m in c["B"].who("lobby")] == ["bob", "carol"]
    member(c["B"], "alice")  # its nicks are free


def test_an_instance_that_starts_later_learns_the_members_of_the_others() -> None:
    c = Cluster("A")
    alice, _ = member(c["A"], "alice")
    c["A"].enter(alice, "lab", 1.0)
    late = ChatHub(c.bus, presence=c.presence, instance="B")
    c.hubs["B"] = late
    late.resync()  # what start() does
    c.pump()
    assert [m.nick for m in late.who("lab")] == ["alice"] and late.rooms() == {"lab": 1, "lobby": 1}


def test_every_instance_records_every_instances_messages_under_unique_ids(tmp_path: Path) -> None:
    c = Cluster("A", "B", histories=tmp_path)
    alice, _ = member(c["A"], "alice")
    bob, _ = member(c["B"], "bob")
    c.pump()
    first = c["A"].say(alice, "from a", 5.0)
    second = c["B"].say(bob, "from b", 5.0)  # the same millisecond
    c.pump()
    assert first.id != second.id
    for hub in c.hubs.values():
        assert hub.history is not None
        assert [(e.nick, e.text, e.id) for e in hub.history.recent("lobby")] == [
            ("alice", "from a", first.id), ("bob", "from b", second.id)]


def test_backfill_records_what_was_said_meanwhile_and_nothing_twice(tmp_path: Path) -> None:
    c = Cluster("A", histories=tmp_path)
    stream = c.bus.subscribe([CHAT_TOPIC])
    alice, _ = member(c["A"], "alice")
    c["A"].say(alice, "one", 1.0)
    c["A"].say(alice, "two", 2.0)
    items = [json.loads(json.dumps(item)) for _, item in stream.get_batch(timeout=0).items]
    history = ChatHistory(tmp_path / "restarted.sqlite3")
    restarted = ChatHub(Bus(), history, presence=c.presence, instance="A2")
    assert restarted.backfill(items) == 2
    assert restarted.backfill(items) == 2  # a replay: stored once all the same
    assert [e.text for e in history.recent("lobby")] == ["one", "two"]


class RoundTripBus:
    """A bus like Redis: nothing arrives during publish; ``flush`` hands every subscriber a
    JSON copy of each item, the publisher's own included (one order for all)."""

    def __init__(self) -> None:
        self.instance = "unused"
        self.inner = Bus()
        self.outgoing: list[tuple[str, Any]] = []

    def publish(self, topic: str, item: Any) -> None:
        self.outgoing.append((topic, json.dumps(item)))

    def subscribe(self, topics: Any = None, limit: int = 1000, name: str = "s") -> Subscription:
        return self.inner.subscribe(topics, limit, name)

    def dropped_total(self) -> int:
        return 0

    def state(self) -> str:
        return "local"  # so the hub starts no greenlets here: the test pumps

    def flush(self) -> None:
        outgoing, self.outgoing = self.outgoing, []
        for topic, payload in outgoing:
            self.inner.publish(topic, json.loads(payload))


def test_on_a_bus_that_delivers_later_own_events_still_arrive_once_and_skip_their_author() -> None:
    bus = RoundTripBus()
    c = Cluster("A", "B", bus=bus)
    alice, alice_in = member(c["A"], "alice")
    _bob, bob_in = member(c["A"], "bob")
    _wendy, wendy_in = member(c["B"], "wendy", "web")
    event = c["A"].say(alice, "later", 1.0)
    assert said(bob_in) == []  # not during the call: it has not come back from the bus
    bus.flush()
    c.pump()
    bus.flush()
    c.pump()
    assert said(bob_in) == ["later"] and said(wendy_in) == ["later"] and said(alice_in) == []
    assert next(e for e in bob_in if e.kind == "message") is event  # the very event say() returned
    to_self = c["A"].direct(alice, "alice", "note", 2.0)
    bus.flush()
    c.pump()
    assert [e for e in alice_in if e.kind == "dm"] == [to_self]
