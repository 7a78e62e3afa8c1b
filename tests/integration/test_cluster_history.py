"""Two instances on one Redis and ONE --data (what ``--workers N`` does): both write every
chat message into the same chat.sqlite3. Each message must be stored once, and neither
writer may fail ("database is locked") while the other holds the file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from tests import harness
from tests.harness import chat_client, recv_until
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

SENDERS_PER_INSTANCE = 2
LINES_EACH = 2000  # 8,000 lines: under --chat-history-per-room (10,000), nothing trimmed


def stored(db: Path) -> tuple[int, int]:
    """(rows, distinct texts) of the test's lines in the shared file."""
    with sqlite3.connect(db, timeout=5) as conn:
        rows, texts = conn.execute("SELECT COUNT(*), COUNT(DISTINCT text) FROM messages "
                                   "WHERE kind = 'message' AND text LIKE 'line %'").fetchone()
    conn.close()
    return int(rows), int(texts)


def test_two_instances_on_one_data_dir_store_each_message_once(tmp_path: Path,
                                                               redis_server: RedisServer) -> None:  # noqa: F811
    procs = [harness.start(tmp_path, "--bus", redis_server.url, "--instance-name", name) for name in ("A", "B")]
    try:
        clients = [chat_client(proc, f"{proc_name}{n}") for proc, proc_name in zip(procs, "AB", strict=True)
                   for n in range(SENDERS_PER_INSTANCE)]

        def send(index: int) -> None:
            lines = b"".join(f"line {index}-{i}\n".encode() for i in range(LINES_EACH))
            clients[index].sendall(lines)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        for index in range(len(clients)):  # every sender's last line went round the cluster
            recv_until(clients[(index + 1) % len(clients)], f"line {index}-{LINES_EACH - 1}".encode(), timeout=20)
        total = len(clients) * LINES_EACH
        db = tmp_path / "data" / "chat.sqlite3"
        procs[0].wait_for(lambda: stored(db)[0] >= total, timeout=10, what=f"{total} rows")
        assert stored(db) == (total, total)  # each once (ids are cluster-wide: INSERT OR IGNORE)
        for client in clients:
            client.close()
    finally:
        for proc in procs:
            proc.stop()
    output = "\n".join(line for proc in procs for line in proc.output)
    assert "locked" not in output and "could not store" not in output, output[-2000:]
