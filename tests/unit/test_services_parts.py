"""The parts Services was split into, each on its own (no sockets, no greenlets to wait on)."""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from sockets_core.autoreply_store import AUTOREPLY_FILE, AutoReplyStore, FileAutoReplyStore, StoredRules
from sockets_core.bus import Bus
from sockets_core.chat.autoreply import RuleError
from sockets_core.packetlog import PacketLog
from sockets_core.rate_sampler import STATUS_TOPIC, RateSampler
from sockets_core.servers.listen import BindError
from sockets_core.service_registry import ServiceRegistry
from sockets_core.traffic import ServiceTap

ANY = [{"match": "any", "reply": "收到"}]


def test_the_file_store_keeps_rules_across_a_restart(tmp_path: Path) -> None:
    store = FileAutoReplyStore(["tcp_chat", "udp_chat"], tmp_path)
    store.set_rules("udp_chat", ANY)
    again = FileAutoReplyStore(["tcp_chat", "udp_chat"], tmp_path)
    again.load()
    assert again.snapshot() == {"tcp_chat": [], "udp_chat": [{"match": "any", "pattern": "", "reply": "收到"}]}
    assert "收到" in (tmp_path / AUTOREPLY_FILE).read_text(encoding="utf-8")  # readable, not \\u escapes


def test_a_bad_rule_changes_nothing_in_memory_or_on_disk(tmp_path: Path) -> None:
    store = FileAutoReplyStore(["udp_chat"], tmp_path)
    store.set_rules("udp_chat", ANY)
    before = (tmp_path / AUTOREPLY_FILE).read_bytes()
    with pytest.raises(RuleError):
        store.set_rules("udp_chat", [{"match": "regex", "pattern": "(", "reply": "x"}])
    assert (tmp_path / AUTOREPLY_FILE).read_bytes() == before
    assert [r.reply for r in store.responders["udp_chat"].rules] == ["收到"]


def test_an_unreadable_file_is_logged_and_leaves_no_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / AUTOREPLY_FILE).write_text("[1, 2]", encoding="utf-8")
    store = FileAutoReplyStore(["udp_chat"], tmp_path)
    with caplog.at_level(logging.ERROR):
        store.load()
    assert store.snapshot() == {"udp_chat": []}
    assert "not loaded" in caplog.text and AUTOREPLY_FILE in caplog.text


class MemoryStore(AutoReplyStore):
    """What a shared backend (Redis) implements: two methods and where()."""

    def __init__(self, services: list[str], shared: dict[str, Any]) -> None:
        super().__init__(services)
        self.shared = shared

    def _read(self) -> Mapping[str, list[dict[str, Any]]] | None:
        return self.shared.get("rules")

    def _write(self, stored: StoredRules) -> None:
        self.shared["rules"] = json.loads(json.dumps(stored))

    def where(self) -> str:
        return "memory"


def test_another_backend_is_two_methods_and_apply_takes_a_peers_change() -> None:
    shared: dict[str, Any] = {}
    one, two = MemoryStore(["udp_chat"], shared), MemoryStore(["udp_chat"], shared)
    one.set_rules("udp_chat", ANY)
    two.apply(shared["rules"])  # what a backend does when told another instance changed them
    assert two.snapshot() == one.snapshot()
    two.apply({"not_ours": ANY})  # a service this instance does not run is ignored
    assert list(two.responders) == ["udp_chat"]


def test_one_sample_turns_counter_differences_into_rates_history_and_a_status_event() -> None:
    bus = Bus()
    tap = ServiceTap("udp_chat", "udp", PacketLog(bus))
    sampler = RateSampler(lambda: {"udp_chat": tap}, bus, interval=0.5)
    previous = {"udp_chat": tap.counters.as_dict()}
    with bus.subscribe([STATUS_TOPIC]) as sub:
        tap.received(("127.0.0.1", 1), ("127.0.0.1", 2), b"x" * 100)
        sampler.sample(previous)
        assert sampler.rate_of("udp_chat") == {"packets_per_s": 2.0, "bytes_per_s": 200.0}
        assert sampler.history[-1]["services"] == {"udp_chat": [2.0, 200.0]}
        assert sub.pending() == 1
        sampler.sample(previous)
    assert sampler.rate_of("udp_chat") == {"packets_per_s": 0.0, "bytes_per_s": 0.0}
    assert sampler.rate_of("never_seen") == {"packets_per_s": 0.0, "bytes_per_s": 0.0}


class FakeServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.started = self.stopped = False
        self.socket = self

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float) -> None:
        self.stopped = True


def test_the_registry_falls_back_notes_why_and_keeps_the_port_on_restart() -> None:
    built: list[tuple[str, int]] = []

    def build(name: str, host: str, port: int) -> Any:
        built.append((name, port))
        if port == 69:
            raise BindError(name, host, port, OSError(errno.EACCES, "Permission denied"))
        return FakeServer(port or 40000)

    registry = ServiceRegistry(["tftp", "udp_chat"], "127.0.0.1", {"tftp": 69, "udp_chat": 0}.__getitem__, build,
                               lambda name, port, error: 6969 if name == "tftp" else None)
    registry.start_all(skip={"udp_chat"})
    assert built == [("tftp", 69), ("tftp", 6969)] and not registry.running("udp_chat")
    assert registry.report("tftp", disabled=False)["note"] == "port 69 needs root; using 6969 instead"
    registry.stop("tftp")
    assert registry.start("tftp").port == 6969 and built[-1] == ("tftp", 6969)  # not 69 again
    assert registry.ports() == {6969}


def test_a_bind_error_stops_what_the_registry_had_started() -> None:
    servers: list[FakeServer] = []

    def build(name: str, host: str, port: int) -> Any:
        if name == "b":
            raise BindError(name, host, port, OSError(errno.EADDRINUSE, "in use"))
        servers.append(FakeServer(1))
        return servers[-1]

    registry = ServiceRegistry(["a", "b"], "127.0.0.1", lambda n: 1, build, lambda *a: None)
    with pytest.raises(BindError):
        registry.start_all()
    assert servers[0].stopped and not registry.running("a")
