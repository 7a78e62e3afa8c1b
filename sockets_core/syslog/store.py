"""The bounded ring of received syslog messages, their filters and their text form.

Receiving sits on the hot path (bench/syslog.py sends 20,000 datagrams a second), so
``SyslogStore.add`` keeps the bytes, the sender and the time, and parses nothing: an
entry is parsed the first time somebody looks (a query, the live page, an export) and
the result is kept on it. The optional file (--syslog-file) gets each message as one
line of text, through logging's RotatingFileHandler.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from ..bus import Bus
from ..logthrottle import ThrottledWarning
from ..textcodec import decode, printable
from .parse import SyslogMessage, parse

log = logging.getLogger(__name__)

SYSLOG_TOPIC = "syslog"
MAX_MESSAGE = 8 << 10  # bytes kept of one datagram (RFC 5424 6.1: receivers should take 2048)
DEFAULT_CAPACITY = 10_000
FILE_BACKUPS = 3  # rotated files kept besides the current one, as for --packet-log-file


class SyslogFileError(OSError):
    """--syslog-file cannot be opened; the message names the flag, the path and why."""


class SyslogFile(logging.handlers.RotatingFileHandler):
    """The rotated --syslog-file. A failed write (disk full, file removed under us) is counted
    and reported by ``on_error``, rate-limited, instead of logging's traceback per record,
    which a device sending 20,000 messages a second would turn into a flood on stderr."""

    def __init__(self, path: Path, max_bytes: int, on_error: Callable[[BaseException | None], None]) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=FILE_BACKUPS, encoding="utf-8")
        self.setFormatter(logging.Formatter("%(message)s"))
        self.on_error = on_error

    def handleError(self, record: logging.LogRecord) -> None:  # logging's name for it
        self.on_error(sys.exc_info()[1])


class SyslogEntry:
    """One received datagram; ``message`` parses it on first use."""

    __slots__ = ("_parsed", "data", "id", "instance", "length", "sender", "time")

    def __init__(self, id: int, time: float, sender: str, data: bytes, length: int,
                 instance: str | None = None) -> None:
        self.id = id
        self.time = time
        self.sender = sender
        self.data = data  # at most MAX_MESSAGE bytes
        self.length = length  # as received
        self.instance = instance  # --bus: the instance that received it; None: this one
        self._parsed: SyslogMessage | None = None

    @property
    def truncated(self) -> bool:
        return self.length > len(self.data)

    @property
    def message(self) -> SyslogMessage:
        if self._parsed is None:
            self._parsed = parse(self.data, self.sender)
        return self._parsed

    def to_dict(self) -> dict[str, Any]:
        shown = {"id": self.id, "received": round(self.time, 3), "length": self.length,
                 "truncated": self.truncated, **self.message.to_dict()}
        if self.instance is not None:
            shown["instance"] = self.instance
        return shown

    def log_line(self) -> str:
        """One line of text: receive time (UTC), sender and the datagram as sent, its control
        characters (newlines too) as \\xNN so that one message stays one line."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time)) + f".{int(self.time * 1000) % 1000:03d}Z"
        text = printable(decode(self.data)[0].rstrip("\r\n\x00"))
        mark = " [truncated]" if self.truncated else ""
        return f"{stamp} {self.sender} {text}{mark}"


class SyslogFilter:
    """host: the sender's IP or the host name in the message (exact, any case); severity:
    this or worse (a smaller number), unknown ones left out; text: a substring of the
    datagram, any case."""

    def __init__(self, host: str = "", severity: int | None = None, text: str = "") -> None:
        self.host = host.strip().lower()
        self.severity = severity
        self.text = text.casefold()
        self.asked = {"host": host.strip(), "severity": severity, "q": text}  # as given: echoed to the page

    def __call__(self, entry: SyslogEntry) -> bool:
        message = entry.message
        if self.host and self.host != entry.sender and self.host != message.host.lower():
            return False
        if self.severity is not None and (message.severity is None or message.severity > self.severity):
            return False
        return not self.text or self.text in message.raw.casefold()

    @property
    def empty(self) -> bool:
        return not self.host and self.severity is None and not self.text


class SyslogStore:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, bus: Bus | None = None,
                 file: Path | None = None, file_max: int = 64 << 20, max_message: int = MAX_MESSAGE) -> None:
        if capacity < 1:
            raise ValueError("the syslog ring keeps at least one message")
        self.capacity = capacity
        self.max_message = max_message
        self.received = 0  # messages taken into the ring (here or, --bus, another instance's): their ids
        self.ingested = 0  # of those, other instances' (cluster/syslog_share.py)
        self.truncated = 0
        self.evicted = 0
        self.file_errors = 0
        self._ring: deque[SyslogEntry] = deque(maxlen=capacity)
        self._bus = bus
        self._warnings = ThrottledWarning(log)
        self._next_eviction_warning = float("-inf")
        self._file: SyslogFile | None = None
        if file is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                self._file = SyslogFile(file, file_max, self._file_failed)
            except OSError as exc:
                raise SyslogFileError(f"--syslog-file {file} cannot be written: {exc.strerror or exc}") from None

    def add(self, data: bytes, sender: str, length: int | None = None, now: float | None = None) -> SyslogEntry:
        """Keep one datagram (``length``: its size when ``data`` is already cut short)."""
        length = len(data) if length is None else length
        if len(data) > self.max_message:
            data = data[:self.max_message]
        self.received += 1
        entry = SyslogEntry(self.received, time.time() if now is None else now, sender, bytes(data), length)
        if length > len(data):
            self.truncated += 1
            self._warnings.warn("syslog: kept the first %d of %d bytes of a message from %s", len(data), length,
                                sender, key=sender)
        if len(self._ring) == self.capacity:
            self._evict()
        self._ring.append(entry)
        if self._file is not None:
            self._write(entry)
        if self._bus is not None:
            self._bus.publish(SYSLOG_TOPIC, entry)
        return entry

    def ingest(self, data: bytes, sender: str, length: int, when: float, instance: str) -> SyslogEntry:
        """Keep a message another instance received (--bus): numbered here, so that ``after``
        stays one sequence; not written to --syslog-file (its receiver writes it), but on the
        local bus for the live page."""
        self.received += 1
        self.ingested += 1
        entry = SyslogEntry(self.received, when, sender, bytes(data[:self.max_message]), length, instance)
        if len(self._ring) == self.capacity:
            self._evict()
        self._ring.append(entry)
        if self._bus is not None:
            self._bus.publish(SYSLOG_TOPIC, entry)
        return entry

    def _evict(self) -> None:
        """Count one message pushed out of the full ring. The warning is offered once per
        interval with the count so far (the steady state of a busy receiver: asking the
        throttle on each of 20,000 messages a second cost 7 us each, bench/syslog.py)."""
        self.evicted += 1
        now = time.monotonic()
        if now >= self._next_eviction_warning:
            self._next_eviction_warning = now + self._warnings.interval
            self._warnings.warn("syslog: the ring of %d messages (--syslog-max) is full: the oldest leave the "
                                "dashboard, %d so far", self.capacity, self.evicted, key="ring")

    def _file_failed(self, error: BaseException | None) -> None:
        self.file_errors += 1
        assert self._file is not None
        self._warnings.warn("syslog: a message was not written to %s: %s; it stays in the dashboard's ring",
                            self._file.baseFilename, error, key="file")

    def _write(self, entry: SyslogEntry) -> None:
        assert self._file is not None
        record = logging.LogRecord("sockdash.syslog", logging.INFO, "", 0, entry.log_line(), None, None)
        self._file.handle(record)

    def query(self, match: SyslogFilter | None = None, after: int = 0, limit: int = 500) -> list[SyslogEntry]:
        """The newest ``limit`` entries newer than ``after`` that match, oldest first."""
        newest = islice(self.iter_entries(match, after, newest_first=True), max(limit, 0))
        found = list(newest)
        found.reverse()
        return found

    def iter_entries(self, match: SyslogFilter | None = None, after: int = 0,
                     newest_first: bool = False) -> Iterator[SyslogEntry]:
        """Over a snapshot of the ring taken now (one C call), so messages arriving while an
        export streams neither break nor stretch it."""
        snapshot = list(self._ring)
        ordered = reversed(snapshot) if newest_first else iter(snapshot)
        for entry in ordered:
            if entry.id <= after:
                if newest_first:
                    return
                continue
            if match is None or match.empty or match(entry):
                yield entry

    def status(self) -> dict[str, int]:
        return {"messages": len(self._ring), "capacity": self.capacity, "received": self.received,
                "truncated": self.truncated, "evicted": self.evicted, "file_errors": self.file_errors}

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __len__(self) -> int:
        return len(self._ring)
