"""Chat history in SQLite (the data dir's chat.sqlite3).

Messages are buffered and written in one transaction every FLUSH_INTERVAL by the
owner's timer (``flush``), so a busy room costs one commit a second, not one per
message; after a kill -9 at most the last interval is lost. WAL mode keeps readers
(a browser loading a room) from waiting for a writer.

The store is bounded: each room keeps its last ``per_room`` messages and the whole store
at most ``max_bytes`` (text, nick and room bytes plus ROW_OVERHEAD a row; SQLite reuses
the pages freed, so the file stops growing there). Each flush trims the rooms it wrote
to and, past the total, the oldest messages of any room (down to 90%, so trimming is
not paid on every flush); both are logged. The buffer itself is bounded too: a burst of
PENDING_BYTES is written at once, and rows a failing disk holds back are capped.

Another writer on the same file (instances sharing a --data) must not stall this process's
gevent hub: SQLite waits at most BUSY_TIMEOUT for the write lock, then the flush is skipped
(counted in ``skipped_flushes``, a throttled WARNING) and its rows wait for the next tick.
The size is kept by adding the rows really inserted (a duplicate INSERT OR IGNORE skipped
adds nothing), never by re-summing the table inside the write transaction.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from ..logthrottle import ThrottledWarning
from .hub import ChatEvent
from .limits import (
    DEFAULT_HISTORY_MAX_BYTES,
    DEFAULT_HISTORY_PER_ROOM,
    WARNING_INTERVAL,
)

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5
RECENT_LIMIT = 200
ROW_OVERHEAD = 32  # bytes a row costs besides its text, nick and room (id, time, kinds, index)
PENDING_BYTES = 1 << 20  # a buffer this big is written at once, not at the next tick
PENDING_ROWS_MAX = 50_000  # rows held back while the disk fails; past it the oldest are lost (logged)
TRIM_TO = 0.9  # past max_bytes, trim down to this share of it
BUSY_TIMEOUT = 0.05  # seconds a flush waits for another writer's lock (the hub is blocked meanwhile)
OPEN_TIMEOUT = 5.0  # at start (schema, first measure) nothing else runs yet: wait longer
_ROW_SIZE = f"length(CAST(text AS BLOB)) + length(CAST(nick AS BLOB)) + length(CAST(room AS BLOB)) + {ROW_OVERHEAD}"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    time REAL NOT NULL,
    nick TEXT NOT NULL,
    transport TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_room ON messages (room, id);
"""


def keep_private(path: Path) -> None:
    """Private messages are in there: the file is 0600, created so (SQLite gives its -wal and
    -shm files the database's mode) or tightened if an older version left it readable."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file is path and not file.exists():
                os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            elif file.exists():
                file.chmod(0o600)
        except OSError:  # not ours to change (or a race with another creator): SQLite decides
            pass


def _row_size(room: str, nick: str, text: str) -> int:
    return len(text.encode("utf-8", "replace")) + len(nick.encode("utf-8", "replace")) + len(room) + ROW_OVERHEAD


def _pending_size(row: tuple[int | None, str, float, str, str, str, str]) -> int:
    return _row_size(row[1], row[3], row[6])


def _is_busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY: another connection holds the write lock (the text is all Python 3.11 gives)."""
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class ChatHistory:
    def __init__(self, path: Path, per_room: int = DEFAULT_HISTORY_PER_ROOM,
                 max_bytes: int = DEFAULT_HISTORY_MAX_BYTES) -> None:
        self.path = path
        self.per_room = per_room
        self.max_bytes = max_bytes
        keep_private(path)
        self._db = sqlite3.connect(path, timeout=OPEN_TIMEOUT, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.skipped_flushes = 0  # flushes put off because another writer held the file
        self._clears: set[str] = set()  # rooms cleared while another writer held the file: done at the next flush
        self._pending: list[tuple[int | None, str, float, str, str, str, str]] = []  # rows, id first
        self._pending_bytes = 0
        self._warnings = ThrottledWarning(log, WARNING_INTERVAL)
        self.size = self._measure()  # bytes stored, as the limit counts them
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")

    def set_limits(self, per_room: int, max_bytes: int) -> None:
        self.per_room, self.max_bytes = per_room, max_bytes

    def _measure(self) -> int:
        return int(self._db.execute(f"SELECT COALESCE(SUM({_ROW_SIZE}), 0) FROM messages").fetchone()[0])

    def last_id(self) -> int:
        """The highest id stored or waiting to be, of any instance (the hub draws new ids
        above it; ids are cluster-unique: ``counter * ID_SLOTS + slot``, hub.py)."""
        stored = int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0])
        return max([stored, *(row[0] or 0 for row in self._pending)])

    def add(self, event: ChatEvent) -> None:
        """Store a message under its id (0: SQLite picks the next one)."""
        self._pending.append((event.id or None, event.room, event.time, event.nick, event.transport, event.kind,
                              event.text))
        self._pending_bytes += _row_size(event.room, event.nick, event.text)
        if self._pending_bytes >= PENDING_BYTES:  # a flood of long lines: write now, hold little
            self.flush()
        if len(self._pending) > PENDING_ROWS_MAX:  # flushes keep failing
            lost = len(self._pending) - PENDING_ROWS_MAX
            del self._pending[:lost]
            self._pending_bytes = sum(_pending_size(r) for r in self._pending)
            self._warnings.warn("chat history: %d messages waiting for the disk (limit): the oldest %d are not "
                                "stored", PENDING_ROWS_MAX, lost, key="pending")

    def flush(self) -> int:
        if not self._pending and not self._clears:
            return 0
        rows, self._pending = self._pending, []
        pending_bytes, self._pending_bytes = self._pending_bytes, 0
        size_before = self.size
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")  # the write lock now, or BUSY_TIMEOUT and skip
                for room in sorted(self._clears):  # before the rows said since the clear
                    self._delete_room(room)
                # OR IGNORE: a message stored already (a backfill replaying the cluster's stream,
                # another process on the same file) is kept once, not an error that loses the batch;
                # row by row, so the size grows by exactly the rows inserted
                cursor = self._db.cursor()
                for row in rows:
                    cursor.execute("INSERT OR IGNORE INTO messages (id, room, time, nick, transport, kind, text) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
                    if cursor.rowcount > 0:
                        self.size += _pending_size(row)
                for room in sorted({row[1] for row in rows}):
                    self._trim_room(room)
                if self.size > self.max_bytes:
                    self._trim_oldest()
        except sqlite3.Error as exc:
            # rolled back: the file is as before, and so is the size counted
            self.size = size_before
            self._pending = rows + self._pending
            self._pending_bytes += pending_bytes
            if _is_busy(exc):
                self.skipped_flushes += 1
                self._warnings.warn("chat history: another writer held the file over %.2f s (limit): %d messages "
                                    "wait for the next flush (%d flushes put off so far)", BUSY_TIMEOUT, len(rows),
                                    self.skipped_flushes, key="busy")
            else:
                log.error("chat history: could not store %d messages: %s", len(rows), exc)
            return 0
        self._clears.clear()
        return len(rows)

    def _delete_room(self, room: str) -> int:
        count, freed = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM({_ROW_SIZE}), 0) FROM messages "
                                        "WHERE room = ?", (room,)).fetchone()
        self._db.execute("DELETE FROM messages WHERE room = ?", (room,))
        self.size -= freed
        return int(count)

    def _trim_room(self, room: str) -> None:
        """Keep the room's last ``per_room`` messages (the (room, id) index finds the cut)."""
        cut = self._db.execute("SELECT id FROM messages WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                               (room, self.per_room)).fetchone()
        if cut is None:
            return
        count, freed = self._db.execute(f"SELECT COUNT(*), COALESCE(SUM({_ROW_SIZE}), 0) FROM messages "
                                        "WHERE room = ? AND id <= ?", (room, cut[0])).fetchone()
        self._db.execute("DELETE FROM messages WHERE room = ? AND id <= ?", (room, cut[0]))
        self.size -= freed
        self._warnings.warn("chat history: #%s has more than %d messages (limit): the oldest %d removed",
                            room, self.per_room, count, key="room:" + room)

    def _trim_oldest(self) -> None:
        """Remove the oldest messages of any room until the store is back to TRIM_TO of its limit."""
        excess = self.size - int(self.max_bytes * TRIM_TO)
        freed, count, cut = 0, 0, 0
        while freed < excess:
            batch = self._db.execute(f"SELECT id, {_ROW_SIZE} FROM messages WHERE id > ? ORDER BY id LIMIT 1000",
                                     (cut,)).fetchall()
            if not batch:
                break
            for row_id, size in batch:
                freed, count, cut = freed + size, count + 1, row_id
                if freed >= excess:
                    break
        self._db.execute("DELETE FROM messages WHERE id <= ?", (cut,))
        self.size -= freed
        self._warnings.warn("chat history: more than %d bytes stored (limit): the oldest %d messages removed",
                            self.max_bytes, count, key="total")

    def recent(self, room: str, limit: int = RECENT_LIMIT, before: int | None = None) -> list[ChatEvent]:
        """The last ``limit`` messages of ``room`` (older than id ``before``, if given),
        oldest first, pending ones included. The (room, id) index finds them."""
        self.flush()
        rows = self._db.execute(
            "SELECT id, room, nick, transport, kind, text, time FROM messages WHERE room = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?", (room, (1 << 63) - 1 if before is None else before, limit)).fetchall()
        return [ChatEvent(kind, r, nick, transport, text, t, id=row_id)
                for row_id, r, nick, transport, kind, text, t in reversed(rows)]

    def clear(self, room: str) -> int:
        self.flush()
        # rows a failed flush kept pending must not bring the room back
        self._pending = [row for row in self._pending if row[1] != room]
        self._pending_bytes = sum(_pending_size(r) for r in self._pending)
        size_before = self.size
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                return self._delete_room(room)
        except sqlite3.Error as exc:
            self.size = size_before
            if not _is_busy(exc):
                raise
            self._clears.add(room)  # another writer holds the file: cleared with the next flush
            self._warnings.warn("chat history: another writer held the file over %.2f s (limit): #%s is cleared "
                                "at the next flush", BUSY_TIMEOUT, room, key="busy-clear")
            return 0

    def close(self) -> None:
        self.flush()
        self._db.close()
