"""--packet-log-file: a path that cannot be opened is one clear error; a disk that fails later
costs the events of the failed batches, counted, and one throttled WARNING, not a line per batch."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import gevent
import pytest

from sockets_core.bus import Bus
from sockets_core.packetfile import PacketFileError, PacketFileWriter, check_writable
from sockets_core.packetlog import PacketLog
from tests.harness import wait_for

SERVER, CLIENT = ("127.0.0.1", 69), ("127.0.0.1", 50000)


class DeadDisk:
    """A stream every write of which fails as a full disk does."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def dropped_is(writer: PacketFileWriter, count: int) -> Callable[[], bool]:
    return lambda: writer.dropped == count


def test_a_path_that_cannot_be_opened_names_the_flag_the_path_and_why(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(PacketFileError) as raised:
        check_writable(tmp_path / "a-file" / "packets.jsonl")
    assert str(raised.value) == f"--packet-log-file {tmp_path}/a-file/packets.jsonl cannot be written: File exists"
    with pytest.raises(PacketFileError, match="Is a directory"):
        PacketFileWriter(Bus(), tmp_path, max_bytes=1 << 20)
    check_writable(tmp_path / "new" / "folder" / "packets.jsonl")  # a missing folder is made
    assert (tmp_path / "new" / "folder" / "packets.jsonl").exists()


def test_failed_batches_are_counted_and_warned_once_per_interval(tmp_path: Path, caplog: Any) -> None:
    bus = Bus()
    packets = PacketLog(bus)
    writer = PacketFileWriter(bus, tmp_path / "packets.jsonl", max_bytes=1 << 20)
    writer._greenlet.kill()
    real = writer._file.stream
    writer._file.stream = cast(Any, DeadDisk(real))
    try:
        with caplog.at_level(logging.WARNING, logger="sockets_core.packetfile"):
            writer._greenlet = gevent.spawn(writer._run)
            for lost in range(1, 4):  # three batches, each failing on its own
                packets.record("udp_chat", "udp", "data", "in", SERVER, CLIENT, b"lost")
                wait_for(dropped_is(writer, lost), 5, f"batch {lost} counted", sleep=gevent.sleep)
    finally:
        writer._greenlet.kill()
        writer._sub.close()
        writer._file.stream = real
        writer._file.close()
    lines = [r for r in caplog.records if r.name == "sockets_core.packetfile"]
    assert [r.levelno for r in lines] == [logging.WARNING]
    assert "cannot write (No space left on device): 1 events lost so far" in lines[0].getMessage()
