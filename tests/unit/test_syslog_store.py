"""The syslog ring: bounds, filters, truncation, lazy parsing and the rotated file."""

import errno
import logging
from pathlib import Path

import pytest

from sockets_core.bus import Bus
from sockets_core.syslog.store import SYSLOG_TOPIC, SyslogFileError, SyslogFilter, SyslogStore


def test_the_ring_keeps_the_newest_and_warns_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    store = SyslogStore(capacity=3)
    with caplog.at_level(logging.WARNING):
        for i in range(10):
            store.add(b"<13>m%d" % i, "10.0.0.1")
    assert [e.message.message for e in store.query()] == ["m7", "m8", "m9"]
    assert store.status() == {"messages": 3, "capacity": 3, "received": 10, "truncated": 0, "evicted": 7,
                              "file_errors": 0}
    lines = [r for r in caplog.records if "--syslog-max" in r.getMessage()]
    assert len(lines) == 1  # throttled: one line for seven evictions


def test_a_long_message_is_cut_at_8_kib_marked_and_warned(caplog: pytest.LogCaptureFixture) -> None:
    store = SyslogStore()
    with caplog.at_level(logging.WARNING):
        entry = store.add(b"<13>" + b"x" * 20_000, "10.0.0.9")
    assert len(entry.data) == 8192 and entry.length == 20_004 and entry.truncated
    assert entry.to_dict()["truncated"] and "[truncated]" in entry.log_line()
    assert any("8192 of 20004 bytes" in r.getMessage() and "10.0.0.9" in r.getMessage() for r in caplog.records)


def test_parsing_waits_until_somebody_looks() -> None:
    entry = SyslogStore().add(b"<11>Mar  1 00:00:00 sw1 app: hi", "10.0.0.1")
    assert entry._parsed is None
    assert entry.message.host == "sw1" and entry.message is entry.message  # parsed once, kept


def test_filters_host_severity_or_worse_and_text() -> None:
    store = SyslogStore()
    store.add(b"<11>Mar  1 00:00:00 sw1 app: link down", "10.0.0.5")  # err
    store.add(b"<14>Mar  1 00:00:01 sw1 app: link up", "10.0.0.5")  # info
    store.add(b"<12>Mar  1 00:00:02 rtr app: CPU high", "10.0.0.6")  # warning
    store.add(b"no pri", "10.0.0.6")  # unknown severity
    assert [e.id for e in store.query(SyslogFilter(host="10.0.0.5"))] == [1, 2]
    assert [e.id for e in store.query(SyslogFilter(host="SW1"))] == [1, 2]  # the name in the message, any case
    assert [e.id for e in store.query(SyslogFilter(severity=4))] == [1, 3]  # warning or worse; unknown left out
    assert [e.id for e in store.query(SyslogFilter(text="LINK"))] == [1, 2]
    assert [e.id for e in store.query(after=2)] == [3, 4]
    assert [e.id for e in store.query(limit=2)] == [3, 4]  # the newest, oldest first


def test_each_message_is_published_for_the_live_page() -> None:
    bus = Bus()
    store = SyslogStore(bus=bus)
    with bus.subscribe([SYSLOG_TOPIC], limit=10, name="t") as sub:
        store.add(b"<13>hi", "10.0.0.1")
        batch = sub.get_batch(timeout=1)
    assert [item.id for _, item in batch.items] == [1]


def test_the_file_gets_one_line_per_message_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "syslog.log"
    store = SyslogStore(file=path, file_max=2_000)
    for i in range(60):
        store.add(b"<13>line %d\nsecond half" % i, "10.0.0.1")
    store.close()
    current = path.read_text(encoding="utf-8").splitlines()
    assert current and all(" 10.0.0.1 <13>line " in line and "\\x0asecond half" in line for line in current)
    assert (tmp_path / "logs" / "syslog.log.1").exists() and not (tmp_path / "logs" / "syslog.log.4").exists()
    assert current[-1].endswith("line 59\\x0asecond half")


def test_a_file_that_cannot_be_opened_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SyslogFileError, match=r"--syslog-file .*a-file/syslog.log cannot be written"):
        SyslogStore(file=tmp_path / "a-file" / "syslog.log")


def test_failed_writes_are_counted_and_warned_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    store = SyslogStore(file=tmp_path / "syslog.log")

    def full(text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    assert store._file is not None and store._file.stream is not None
    store._file.stream.write = full  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        for i in range(50):
            store.add(b"<13>m%d" % i, "10.0.0.1")
    store.close()
    assert len(store) == 50 and store.status()["file_errors"] == 50
    lines = [r.getMessage() for r in caplog.records if "was not written" in r.getMessage()]
    assert len(lines) == 1 and "No space left on device" in lines[0]
    assert "Traceback" not in capsys.readouterr().err  # logging's own report would print one per message
