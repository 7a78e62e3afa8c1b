"""The history's flush under --workers / several instances on one file: the size is kept
from the rows really inserted (no full-table SUM in the write transaction), and a file
another writer holds costs a flush at most BUSY_TIMEOUT, not seconds of a blocked hub."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from sockets_core.chat.events import ChatEvent
from sockets_core.chat.history import ChatHistory


def message(event_id: int, text: str) -> ChatEvent:
    return ChatEvent("message", "lobby", "alice", "web", text, 1.0, id=event_id)


def test_the_size_counts_only_the_rows_inserted_without_measuring_the_table(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    history = ChatHistory(tmp_path / "chat.sqlite3")
    try:
        for i in range(1, 6):
            history.add(message(i, f"first {i}"))
        history.flush()

        def no_full_sum() -> int:
            raise AssertionError("the flush summed the whole table")
        monkeypatch.setattr(history, "_measure", no_full_sum)
        for i in range(3, 9):  # 3..5 stored already (another writer, a backfill): ignored
            history.add(message(i, f"first {i}" if i <= 5 else f"second {i} é"))
        assert history.flush() == 6
        monkeypatch.undo()
        assert history.size == history._measure()
        assert [e.id for e in history.recent("lobby")] == list(range(1, 9))
    finally:
        history.close()


def test_a_locked_file_skips_the_flush_quickly_and_keeps_the_rows(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "chat.sqlite3"
    history = ChatHistory(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        history.add(message(1, "stored"))
        history.flush()
        size = history.size
        other.execute("BEGIN IMMEDIATE")  # another instance writing the same file
        history.add(message(2, "waits"))
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, "sockets_core.chat.history"):
            assert history.flush() == 0
        assert time.monotonic() - started < 1.0  # the old code waited 5 s for the lock
        assert history.skipped_flushes == 1
        assert history.size == size
        assert "another writer held the file" in caplog.text and "1 flushes put off" in caplog.text
        other.execute("ROLLBACK")
        assert history.flush() == 1  # the next tick writes what waited
        assert [e.text for e in history.recent("lobby")] == ["stored", "waits"]
        assert history.size == history._measure()
    finally:
        other.close()
        history.close()



def test_a_clear_while_another_writer_holds_the_file_is_done_at_the_next_flush(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    history = ChatHistory(path)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        history.add(message(1, "old"))
        history.flush()
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert history.clear("lobby") == 0  # not now: no error, no seconds of waiting
        assert time.monotonic() - started < 1.0
        history.add(message(2, "said after the clear"))
        other.execute("ROLLBACK")
        history.flush()
        assert [e.text for e in history.recent("lobby")] == ["said after the clear"]
        assert history.size == history._measure()
    finally:
        other.close()
        history.close()
