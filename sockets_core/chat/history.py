"""Chat history in SQLite (the data dir's chat.sqlite3).

Messages are buffered and written in one transaction every FLUSH_INTERVAL by the
owner's timer (``flush``), so a busy room costs one commit a second, not one per
message; after a kill -9 at most the last interval is lost. WAL mode keeps readers
(a browser loading a room) from waiting for a writer.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from .hub import ChatEvent

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.5
RECENT_LIMIT = 200
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


class ChatHistory:
    def __init__(self, path: Path) -> None:
        self.path = path
        keep_private(path)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pending: list[tuple[str, float, str, str, str, str]] = []

    def add(self, event: ChatEvent) -> None:
        self._pending.append((event.room, event.time, event.nick, event.transport, event.kind, event.text))

    def flush(self) -> int:
        if not self._pending:
            return 0
        rows, self._pending = self._pending, []
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO messages (room, time, nick, transport, kind, text) VALUES (?, ?, ?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            log.error("chat history: could not store %d messages: %s", len(rows), exc)
            self._pending = rows + self._pending
            return 0
        return len(rows)

    def recent(self, room: str, limit: int = RECENT_LIMIT) -> list[ChatEvent]:
        """The last ``limit`` messages of ``room``, oldest first (pending ones included)."""
        self.flush()
        rows = self._db.execute(
            "SELECT room, nick, transport, kind, text, time FROM messages WHERE room = ? ORDER BY id DESC LIMIT ?",
            (room, limit)).fetchall()
        return [ChatEvent(kind, r, nick, transport, text, t) for r, nick, transport, kind, text, t in reversed(rows)]

    def rooms(self) -> list[str]:
        self.flush()
        return [r for (r,) in self._db.execute("SELECT DISTINCT room FROM messages")]

    def clear(self, room: str) -> int:
        self.flush()
        with self._db:
            self._db.execute("BEGIN")
            removed = self._db.execute("DELETE FROM messages WHERE room = ?", (room,)).rowcount
        # rows a failed flush kept pending must not bring the room back
        self._pending = [row for row in self._pending if row[0] != room]
        return removed

    def close(self) -> None:
        self.flush()
        self._db.close()
