"""--packet-log-file: every packet event appended as a JSON line, rotated by size.

A bus subscriber with its own greenlet does the writing, so no service ever waits for
the disk. If the disk falls behind by more than QUEUE_LIMIT events the oldest are
dropped, counted, and a line saying how many is written in their place.

Nothing one client sends may stop the file: events come readable from
PacketEvent.to_json, the file is opened to write any leftover surrogate as \\udcxx
rather than raise, and an event that still cannot be rendered costs its own line (logged
once, counted), never the writer.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import gevent

from .bus import Bus
from .packetlog import PACKET_TOPIC

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100_000
BACKUPS = 3
ENCODING_ERRORS = "backslashreplace"


class PacketFileWriter:
    def __init__(self, bus: Bus, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.unwritable = 0  # events that could not be rendered (a bug, never a client's bytes)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8", errors=ENCODING_ERRORS)
        self._sub = bus.subscribe([PACKET_TOPIC], limit=QUEUE_LIMIT, name="packet log file")
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        failing = False
        while not self._sub.closed:
            batch = self._sub.get_batch(timeout=1.0)
            try:
                self.write_batch(batch)
                failing = False
            except OSError as exc:  # a full disk: lose these events, say so once, keep going
                if not failing:
                    log.error("packet log file %s: cannot write (%s); events are lost until it can",
                              self.path, exc.strerror or exc)
                failing = True

    def write_batch(self, batch) -> None:  # type: ignore[no-untyped-def]
        lines = []
        for _, event in batch.items:
            try:
                lines.append(event.to_json())
            except Exception:  # one event that cannot be rendered costs its own line only
                self.unwritable += 1
                if self.unwritable == 1:  # once: a recurring bug must not flood the log
                    log.exception("packet log file %s: an event could not be written", self.path)
        if batch.dropped:
            lines.append(json.dumps({"dropped": batch.dropped,
                                     "reason": "the log file fell behind; these events were not written"}))
        if not lines:
            return
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        if self._file.tell() >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self._file.close()
        for i in range(BACKUPS - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "a", encoding="utf-8", errors=ENCODING_ERRORS)
        log.info("packet log file %s rotated at %d bytes (keeping %d old files)", self.path, self.max_bytes, BACKUPS)

    def close(self) -> None:
        self._greenlet.kill(block=True, timeout=1)
        self.write_batch(self._sub.get_batch(timeout=0))
        self._sub.close()
        self._file.close()
