"""The one throttle for WARNING lines (sockets_core.logthrottle): a line per key per interval
with the count in between, a cap on lines in all, a bounded key table, a clock or ``now=``;
and its users: connection refusals (unkeyed), the chat's limits (keyed, capped in all)."""

from __future__ import annotations

import logging

import pytest

from sockets_core.chat.commands import handle_line
from sockets_core.chat.hub import ChatHub, Member
from sockets_core.chat.limits import WARNING_INTERVAL, ChatLimits
from sockets_core.logthrottle import (
    MAX_LINES,
    REFUSED_FROM,
    SINCE_LAST_REPORT,
    ThrottledWarning,
)

log = logging.getLogger("test.throttle")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_one_line_per_peer_per_interval_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    warn = ThrottledWarning(log, interval=10.0, max_lines=3, suffix=REFUSED_FROM, clock=clock)
    assert warn.warn("refused %s", "x", key="10.0.0.1") is True
    assert [warn.warn("refused %s", "x", key="10.0.0.1") for _ in range(4)] == [False] * 4
    clock.now += 10.0
    assert warn.warn("refused %s", "x", key="10.0.0.1") is True
    assert messages(caplog)[0] == "refused x (1 refused from 10.0.0.1 in the last 10 s)"
    assert messages(caplog)[1] == "refused x (5 refused from 10.0.0.1 in the last 10 s)"
    assert all(r.levelname == "WARNING" for r in caplog.records)
    # many peers at once: at most max_lines lines an interval in all
    written = sum(warn.warn("refused", key=f"10.0.1.{i}") for i in range(100))
    assert written == 2 and len(caplog.records) == 4


def test_unkeyed_warning_is_one_line_per_interval_counting_those_in_between(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    warn = ThrottledWarning(log, interval=10.0, suffix=SINCE_LAST_REPORT, clock=clock)
    assert warn.warn("accept failed (%s)", "Too many open files") is True
    assert not any(warn.warn("accept failed (%s)", "Too many open files") for _ in range(500))
    clock.now += 9.9
    assert warn.warn("accept failed (%s)", "Too many open files") is False
    clock.now += 0.1
    assert warn.warn("accept failed (%s)", "Too many open files") is True
    assert messages(caplog) == ["accept failed (Too many open files) (1 since the last report)",
                                "accept failed (Too many open files) (502 since the last report)"]


def test_time_passed_in_and_the_default_wording(caplog: pytest.LogCaptureFixture) -> None:
    def no_clock() -> float:
        raise AssertionError("now= was given: the clock is not read")

    warn = ThrottledWarning(log, clock=no_clock)
    assert warn.warn("chat: %s refused", "a", key="a", now=0.0) is True
    assert warn.warn("chat: %s refused", "a", key="a", now=5.0) is False
    assert warn.warn("chat: %s refused", "a", key="a", now=9.0) is False
    assert warn.warn("chat: %s refused", "a", key="a", now=10.0) is True
    assert warn.warn("chat: %s refused", "b", key="b", now=10.0) is True  # another key: its own line
    assert messages(caplog) == ["chat: a refused (1 time in the last 10 s)",
                                "chat: a refused (3 times in the last 10 s)",
                                "chat: b refused (1 time in the last 10 s)"]


def test_a_key_held_back_by_the_cap_reports_its_count_when_the_window_reopens(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    warn = ThrottledWarning(log, interval=10.0, max_lines=2, suffix=REFUSED_FROM, clock=clock)
    assert warn.warn("refused", key="a") and warn.warn("refused", key="b")
    assert [warn.warn("refused", key="c") for _ in range(7)] == [False] * 7  # the cap: only counted
    clock.now += 10.0
    assert warn.warn("refused", key="c") is True
    assert messages(caplog)[-1] == "refused (8 refused from c in the last 10 s)"


def test_the_key_table_is_bounded_forgetting_the_least_recently_seen(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    warn = ThrottledWarning(log, interval=10.0, max_lines=1_000_000, max_keys=100, clock=clock)
    warn.warn("x", key="busy")
    for i in range(10_000):
        warn.warn("x", key=f"peer{i}")
        if i % 50 == 0:
            warn.warn("x", key="busy")  # seen again and again: kept
        assert warn.keys_remembered <= 100
    assert warn.warn("x", key="busy") is False  # still remembered: within its interval
    assert warn.warn("x", key="peer0") is True  # forgotten long ago: logs as a first one


def test_the_chats_warnings_are_capped_in_all(caplog: pytest.LogCaptureFixture) -> None:
    """Hundreds of clients hitting a room limit in one interval write at most the cap, not a line each."""
    hub = ChatHub(limits=ChatLimits(rooms_per_client=1))
    for i in range(300):
        m = Member(f"user{i}", "udp", lambda event: None)
        m.address = f"10.0.{i // 250}.{i % 250}:5000"
        hub.join(m, 0.0)
        hub.switch(m, f"own{i}", 0.0)
        assert handle_line(hub, m, "/join another", 1.0).replies[0].startswith("error: you opened 1 rooms")
    lines = [r for r in caplog.records if "rooms still open (limit 1)" in r.getMessage()]
    assert len(lines) == MAX_LINES
    # the next interval: clients held back by the cap get their lines (still at most the cap), with their counts
    caplog.clear()
    for i in reversed(range(300)):
        handle_line(hub, hub.find(f"user{i}"), "/join another", 1.0 + WARNING_INTERVAL)  # type: ignore[arg-type]
    lines = [r.getMessage() for r in caplog.records if "rooms still open (limit 1)" in r.getMessage()]
    assert len(lines) == MAX_LINES and all("(2 times in the last 10 s)" in line for line in lines)
