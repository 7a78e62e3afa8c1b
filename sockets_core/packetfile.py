"""--packet-log-file: every packet event appended as a JSON line, rotated by size.

A bus subscriber with its own greenlet does the writing, so no service ever waits for
the disk. If the disk falls behind by more than QUEUE_LIMIT events the oldest are
dropped, counted, and a line saying how many is written in their place.

Nothing one client sends may stop the file: events come readable from
PacketEvent.to_json, the file is opened to write any leftover surrogate as \\udcxx
rather than raise, and an event that still cannot be rendered costs its own line (logged
once, counted), never the writer.

Rotation is the standard library's (logging.handlers.RotatingFileHandler: name.1 ...
name.BACKUPS); each batch goes in as one record, so the disk sees one write per batch.
A batch that would take the file past the size rotates it first. A write that fails (a
full disk) loses that batch only: it is counted, said in a WARNING at most once per
interval (logthrottle), and the next batch tries again. A path that cannot be opened at
the start is a PacketFileError naming the flag, which webapp/cli.py prints as one line.
"""

from __future__ import annotations

import json
import logging
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

import gevent

from .bus import Bus
from .logthrottle import ThrottledWarning
from .packetlog import PACKET_TOPIC

log = logging.getLogger(__name__)

QUEUE_LIMIT = 100_000
BACKUPS = 3
ENCODING_ERRORS = "backslashreplace"


class PacketFileError(OSError):
    """--packet-log-file cannot be opened; the message names the flag, the path and why."""


def check_writable(path: Path) -> None:
    """Open --packet-log-file for appending (its folder made) and close it again: the start
    fails with this one clear error before any port is bound, not in the middle of it."""
    _open(path, max_bytes=0).close()


def _open(path: Path, max_bytes: int) -> _BatchFile:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _BatchFile(path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8", errors=ENCODING_ERRORS)
    except OSError as exc:
        raise PacketFileError(f"--packet-log-file {path} cannot be written: {exc.strerror or exc}") from None


class _BatchFile(RotatingFileHandler):
    """RotatingFileHandler whose failures reach the writer rather than stderr."""

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        # a batch bigger than the whole limit is written to the file as it is: rotating an
        # empty file would only push the real backups out
        return bool(super().shouldRollover(record)) and self.stream is not None and self.stream.tell() > 0

    def doRollover(self) -> None:
        super().doRollover()
        log.info("packet log file %s rotated at %d bytes (keeping %d old files)", self.baseFilename, self.maxBytes,
                 self.backupCount)

    def handleError(self, record: logging.LogRecord) -> None:
        failure = sys.exc_info()[1]  # called inside emit's except clause
        if failure is not None:
            raise failure  # to PacketFileWriter, which counts it and warns, throttled


class PacketFileWriter:
    def __init__(self, bus: Bus, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.unwritable = 0  # events that could not be rendered (a bug, never a client's bytes)
        self.dropped = 0  # events lost: the file fell behind the bus, or a write failed
        self._warnings = ThrottledWarning(log)
        self._file = _open(path, max_bytes)
        self._sub = bus.subscribe([PACKET_TOPIC], limit=QUEUE_LIMIT, name="packet log file")
        self._greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while not self._sub.closed:
            batch = self._sub.get_batch(timeout=1.0)
            try:
                self.write_batch(batch)
            except OSError as exc:  # a full disk: lose these events, say so (throttled), keep going
                self.dropped += len(batch.items)
                # no flag in the text: a failing disk is not a limit for sockdash_limit_hits_total
                self._warnings.warn("packet log file %s: cannot write (%s): %d events lost so far; the next "
                                    "batch tries again", self.path, exc.strerror or exc, self.dropped, key="write")

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
            self.dropped += batch.dropped
            lines.append(json.dumps({"dropped": batch.dropped,
                                     "reason": "the log file fell behind; these events were not written"}))
        if not lines:
            return
        record = logging.LogRecord("packet log file", logging.INFO, str(self.path), 0, "\n".join(lines), None, None)
        self._file.emit(record)

    def close(self) -> None:
        self._greenlet.kill(block=True, timeout=1)
        try:
            self.write_batch(self._sub.get_batch(timeout=0))
        finally:
            self._sub.close()
            self._file.close()
