"""The chat history backfill from the cluster's chat stream (chat/instances.py): bad items are
skipped and counted, and an old ``clear`` in the stream never deletes what this instance
stored that was never in the stream. Also the other readers of cluster items (the transfers
follower, the metrics observer): an item that is not what its topic carries is skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gevent
import pytest

from sockets_core.bus import Bus
from sockets_core.chat import instances as chat_instances
from sockets_core.chat.events import ChatEvent
from sockets_core.chat.history import ChatHistory
from sockets_core.chat.hub import ChatHub
from sockets_core.chat.presence import MemoryPresence
from sockets_core.chat.wire import to_wire
from sockets_core.cluster.packets import PACKET_BATCH_TOPIC, ClusterPackets
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Services
from sockets_core.settings import parse_settings
from sockets_core.transfers import TransferRegistry
from tests.harness import wait_for
from webapp.app import create_app


def item(kind: str, text: str = "", id_: int = 0, room: str = "lobby") -> dict[str, Any]:
    return to_wire(ChatEvent(kind, room, "alice", "tcp", text, 1.0, id=id_, instance="A"), "A", id_ or 1)


@pytest.fixture
def hub(tmp_path: Path) -> Any:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    hub = ChatHub(Bus(), history, instance="B")
    yield hub
    history.close()


def texts(hub: ChatHub) -> list[str]:
    assert hub.history is not None
    return [e.text for e in hub.history.recent("lobby")]


def test_malformed_stream_items_are_skipped_and_counted(hub: ChatHub, caplog: pytest.LogCaptureFixture) -> None:
    items: list[Any] = [{"kind": "message"}, {"kind": "clear"}, {"kind": "message", "nick": "x", "instance": "A",
                                                                 "id": "not a number"},
                        item("message", "good", 8)]
    assert hub.backfill(items) == 1
    assert texts(hub) == ["good"]
    assert hub.instances.bad_backfill == 3
    assert any("not backfilled" in r.getMessage() for r in caplog.records)


def test_an_old_clear_in_the_stream_keeps_what_only_this_instance_stored(hub: ChatHub) -> None:
    assert hub.history is not None
    hub.history.add(ChatEvent("message", "lobby", "bob", "web", "said here, never in the stream", 5.0, id=100))
    hub.history.add(ChatEvent("message", "lab", "bob", "web", "another room", 5.0, id=101))
    stream = [item("message", "before the clear", 1), item("clear"), item("message", "after the clear", 3)]
    assert hub.backfill(stream) == 1
    assert hub.backfill(stream) == 1  # every start replays the stream: the same outcome
    assert texts(hub) == ["after the clear", "said here, never in the stream"]
    assert [e.text for e in hub.history.recent("lab")] == ["another room"]


def test_the_transfers_follower_skips_items_it_cannot_key() -> None:
    registry = TransferRegistry(Bus())
    bad_items: list[Any] = [None, [], {"instance": "A", "id": ["unhashable"]}, {"instance": "A"}]
    for bad in bad_items:
        registry.remember(bad)
    registry.remember({"instance": "A", "id": 1, "status": "running", "finished": None})
    assert [t["id"] for t in registry.snapshot()] == [1]


def test_the_metrics_observer_skips_items_that_are_not_what_their_topic_carries(tmp_path: Path) -> None:
    bus = Bus("here")
    services = Services(parse_settings(["--root", str(tmp_path)]), bus, PacketLog(bus), FileStore(tmp_path))
    app = create_app(services, "token")
    events = app.extensions["sockdash_metrics"]
    try:
        bus.publish("chat", ["not", "a", "dict"])
        bus.publish("chat", {"kind": "message"})  # no instance
        bus.publish("transfers", {"status": "ok", "instance": "here"})  # no kind
        bus.publish("chat", {"kind": "message", "instance": "here", "transport": "tcp"})
        wait_for(lambda: events.chat.labels("message", "tcp")._value.get() == 1, 5.0, "the good item counted",
                 sleep=gevent.sleep)
        assert events.malformed == 3
    finally:
        events.close()


class RefusingPresence(MemoryPresence):
    """A Presence whose beat fails as a Redis that answers READONLY would make it fail."""

    def __init__(self) -> None:
        super().__init__()
        self.beats = 0
        self.refusing = False

    def beat(self, instance: str) -> None:
        if not self.refusing:
            return super().beat(instance)
        self.beats += 1
        raise RuntimeError("READONLY You can't write against a read only replica.")


def test_the_chat_tick_goes_on_after_a_failing_beat(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(chat_instances, "SWEEP_INTERVAL", 0.01)
    monkeypatch.setattr(chat_instances, "BEAT_INTERVAL", 0.01)
    presence = RefusingPresence()
    hub = ChatHub(Bus(), None, presence=presence, instance="A")
    presence.refusing = True
    hub.instances.start()
    try:
        wait_for(lambda: presence.beats >= 3, 5.0, "three beats, each failing", sleep=gevent.sleep)
    finally:
        hub.instances.stop()
    assert any("the cluster beat failed (RuntimeError: READONLY" in r.getMessage() for r in caplog.records)


def test_the_packet_ingest_loop_goes_on_after_an_unexpected_error(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus("here")
    packetlog = PacketLog(bus)
    packets = ClusterPackets(bus, packetlog)
    calls: list[Any] = []

    def ingest(event: Any) -> Any:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("a bug in one event's path")
        return event

    packetlog.ingest = ingest  # type: ignore[method-assign]
    row = [1, "tftp", "udp", "rrq", "in", ["127.0.0.1", 69], ["127.0.0.1", 5000], 10, "RRQ", "00", False]
    packets.start()
    try:
        bus.publish(PACKET_BATCH_TOPIC, {"instance": "there", "left_out": 0, "events": [row]})
        wait_for(lambda: len(calls) == 1, 5.0, "the first batch taken", sleep=gevent.sleep)
        bus.publish(PACKET_BATCH_TOPIC, {"instance": "there", "left_out": 0, "events": [row]})
        wait_for(lambda: len(calls) == 2, 5.0, "the second batch taken: the loop was restarted", sleep=gevent.sleep)
    finally:
        packets.stop()
    assert any("the packet ingest loop failed (RuntimeError" in r.getMessage() for r in caplog.records)
