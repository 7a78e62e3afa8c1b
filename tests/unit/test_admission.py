"""Connection admission: caps per address and in all, the descriptor reserve, eviction, the
throttled WARNING. (The accept loop on real sockets: tests/integration/test_admission_inprocess.py.)"""

from __future__ import annotations

import logging
import resource
from typing import Any

import pytest

from sockets_core.servers import admission as admission_module
from sockets_core.servers.admission import (
    Admission,
    AdmissionControl,
    FdBudget,
    Refusal,
    ServiceCaps,
    Ticket,
    count_open_fds,
    default_reserve,
    raise_fd_limit,
    refusal_warnings,
)
from sockets_core.settings import SettingsError, parse_settings
from webapp.http_server import IdleConnections, redact


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counter:
    """A stand-in for /proc/self/fd: returns ``value`` and counts how often it was asked."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.value


def admission(per_ip: int = 3, total: int = 10, budget: FdBudget | None = None, floor: int = 0,
              clock: Clock | None = None) -> Admission:
    budget = budget or FdBudget(reserve=0, limit=1000, counter=lambda: None)
    return Admission("tcp_chat", per_ip, total, budget, floor,
                     {Refusal.PER_IP: "--tcp-chat-max-per-ip", Refusal.TOTAL: "--tcp-chat-max-connections"},
                     refusal_warnings(clock or Clock()))


def test_per_address_cap_leaves_other_addresses_in() -> None:
    gate = admission(per_ip=3)
    tickets = [gate.admit("10.0.0.1") for _ in range(3)]
    assert all(isinstance(t, Ticket) for t in tickets)
    assert gate.admit("10.0.0.1") is Refusal.PER_IP
    assert isinstance(gate.admit("10.0.0.2"), Ticket)
    tickets[0].release()  # type: ignore[union-attr]
    assert isinstance(gate.admit("10.0.0.1"), Ticket)
    assert gate.refusals.per_ip == 1 and gate.open == 4


def test_total_cap() -> None:
    gate = admission(per_ip=5, total=4)
    for i in range(4):
        assert isinstance(gate.admit(f"10.0.0.{i}"), Ticket)
    assert gate.admit("10.0.0.9") is Refusal.TOTAL
    assert gate.refusals.total == 1


def test_release_is_idempotent_and_forgets_addresses() -> None:
    gate = admission()
    ticket = gate.admit("10.0.0.1")
    assert isinstance(ticket, Ticket)
    ticket.release()
    ticket.release()  # eviction and the connection's end both release
    assert gate.open == 0 and gate.by_ip == {}  # the table holds only addresses with connections


def test_descriptor_floor_counts_a_burst_without_listing_the_folder_each_time() -> None:
    clock, counter = Clock(), Counter(70)
    budget = FdBudget(reserve=20, limit=100, counter=counter, clock=clock)
    gate = admission(per_ip=100, total=100, budget=budget, floor=20, clock=clock)
    admitted = [gate.admit("10.0.0.1") for _ in range(15)]
    # 70 open + 10 admitted leaves 20 free: the floor; the rest are refused
    assert sum(isinstance(t, Ticket) for t in admitted) == 10
    assert gate.refusals.fds == 5
    assert counter.calls == 1  # measured once; the re-measure before refusing waits REMEASURE_BEFORE_REFUSING


def test_a_stale_estimate_is_measured_again_before_refusing() -> None:
    clock, counter = Clock(), Counter(90)
    budget = FdBudget(reserve=20, limit=100, counter=counter, clock=clock)
    gate = admission(per_ip=100, total=100, budget=budget, floor=20, clock=clock)
    assert gate.admit("10.0.0.1") is Refusal.FDS
    counter.value = 50  # descriptors were closed meanwhile (evicted connections)
    clock.now += 2 * admission_module.REMEASURE_BEFORE_REFUSING  # well below MEASURE_EVERY
    assert isinstance(gate.admit("10.0.0.1"), Ticket)


def test_http_keeps_half_the_reserve_that_chat_and_file_may_not_use() -> None:
    budget = FdBudget(reserve=20, limit=100, counter=Counter(85), clock=Clock())  # 15 free
    caps = {name: ServiceCaps(100, 100, "--a", "--b") for name in ("http", "tcp_chat", "file")}
    control = AdmissionControl(caps, budget)
    assert control["tcp_chat"].admit("10.0.0.1") is Refusal.FDS
    assert control["file"].admit("10.0.0.1") is Refusal.FDS
    assert isinstance(control["http"].admit("10.0.0.1"), Ticket)


def test_default_reserve() -> None:
    assert default_reserve(1024) == 256 and default_reserve(300) == 75 and default_reserve(1 << 20) == 256


def test_make_room_hands_an_idle_slot_to_the_newcomer() -> None:
    gate = admission(per_ip=2)
    idle = [gate.admit("10.0.0.1"), gate.admit("10.0.0.1")]
    asked: list[tuple[str, Refusal]] = []

    def evict(ip: str, refusal: Refusal) -> bool:
        asked.append((ip, refusal))
        idle.pop(0).release()  # type: ignore[union-attr]
        return True

    assert isinstance(gate.admit("10.0.0.1", evict), Ticket)
    assert asked == [("10.0.0.1", Refusal.PER_IP)] and gate.evicted == 1 and gate.refusals.per_ip == 0
    assert gate.admit("10.0.0.1", lambda ip, refusal: False) is Refusal.PER_IP


def test_refusals_are_logged_with_peer_and_count_at_most_once_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    gate = admission(per_ip=1, clock=clock)
    gate.admit("10.0.0.1")
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            gate.admit("10.0.0.1")
        clock.now += admission_module.LOG_EVERY
        gate.admit("10.0.0.1")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "10.0.0.1" in lines[0] and "1 connections from 10.0.0.1" in lines[0]
    assert "--tcp-chat-max-per-ip" in lines[0] and "(1 since the last report)" in lines[0]
    assert "(500 since the last report)" in lines[1]
    assert gate.refusals.per_ip == 501


def test_status() -> None:
    gate = admission(per_ip=1)
    gate.admit("10.0.0.1")
    gate.admit("10.0.0.1")
    assert gate.status() == {"open": 1, "addresses": 1, "per_ip": 1, "total": 10,
                             "refused": {"per_ip": 1, "total": 0, "fds": 0}, "evicted": 0}


def test_count_open_fds_sees_a_new_descriptor(tmp_path: Any) -> None:
    before = count_open_fds()
    with open(tmp_path / "x", "w"):
        assert count_open_fds() == before + 1  # type: ignore[operator]


def test_raise_fd_limit_takes_the_hard_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = {"now": (1024, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda which: limits["now"])
    monkeypatch.setattr(resource, "setrlimit", lambda which, value: limits.update(now=value))
    assert raise_fd_limit() == (1024, 4096)
    assert limits["now"] == (4096, 4096)
    assert raise_fd_limit() == (4096, 4096)  # already there: nothing to do


def test_idle_connections_evict_the_oldest_of_an_address_or_of_all() -> None:
    class Handler:
        def __init__(self, ip: str) -> None:
            self.ip = ip
            self.evicted = False

        def evict(self) -> None:
            self.evicted = True

    idle = IdleConnections()
    a1, b1, a2 = Handler("a"), Handler("b"), Handler("a")
    for handler in (a1, b1, a2):
        idle.add(handler)  # type: ignore[arg-type]
    idle.add(a1)  # a1 waits again (a new keep-alive request): now the newest
    assert idle.evict_oldest("a") and a2.evicted and not a1.evicted
    assert idle.evict_oldest(None) and b1.evicted
    assert idle.evict_oldest("b") is False
    idle.discard(a1)  # type: ignore[arg-type]
    assert len(idle) == 0 and idle.evict_oldest(None) is False


def test_redact_hides_the_token_in_request_lines() -> None:
    line = '127.0.0.1 - - [x] "GET /?token=s3cret&x=1 HTTP/1.1" 303 - 0.001'
    assert redact(line) == '127.0.0.1 - - [x] "GET /?token=[redacted]&x=1 HTTP/1.1" 303 - 0.001'
    assert redact("Invalid http version: 'GET /a?b=1&TOKEN=abc HTTP/9'") == \
        "Invalid http version: 'GET /a?b=1&TOKEN=[redacted] HTTP/9'"


def test_an_expensive_count_is_made_less_often() -> None:
    clock = Clock()
    calls = []

    def slow_count() -> int:
        calls.append(clock.now)
        clock.now += 0.1  # as long as listing ~100,000 descriptors takes
        return 10

    budget = FdBudget(reserve=20, limit=1000, counter=slow_count, clock=clock)
    budget.open()
    clock.now += 1.0  # past MEASURE_EVERY, but not 50 times the 0.1 s the count took
    budget.open()
    budget.open(fresh=True)
    assert len(calls) == 1
    clock.now += 4.5
    budget.open()
    assert len(calls) == 2


def test_limit_flags_and_environment() -> None:
    s = parse_settings(["--http-head-timeout", "0.5", "--tcp-chat-max-per-ip", "128", "--fd-reserve", "100"],
                       {"SOCKDASH_HTTP_WRITE_TIMEOUT": "2.5", "SOCKDASH_FILE_MAX_CONNECTIONS": "10"})
    assert s.http_head_timeout == 0.5 and s.tcp_chat_max_per_ip == 128 and s.fd_reserve == 100
    assert s.http_write_timeout == 2.5 and s.file_max_connections == 10
    defaults = parse_settings([], {})
    assert (defaults.http_max_per_ip, defaults.tcp_chat_max_per_ip, defaults.file_max_per_ip) == (256, 64, 64)
    assert defaults.fd_reserve is None and defaults.http_idle_timeout == 60.0


@pytest.mark.parametrize("argv, needle", [
    (["--http-head-timeout", "soon"], "invalid number of seconds 'soon'"),
    (["--http-idle-timeout", "0"], "must be more than 0"),
    (["--http-write-timeout", "nan"], "must be more than 0"),
    (["--tcp-chat-max-per-ip", "0"], "must be at least 1"),
])
def test_bad_limit_flags_are_one_clear_error(argv: list[str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        parse_settings(argv, {})
