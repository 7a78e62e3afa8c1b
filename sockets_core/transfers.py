"""Every file transfer of every kind (HTTP, TCP file, TFTP) in one live list.

A service calls ``begin`` when a transfer starts, ``Transfer.advance`` as bytes move and
``Transfer.finish`` at the end. Progress is published on the bus topic ``transfers`` at
most every PROGRESS_INTERVAL per transfer (a TFTP download moves thousands of blocks a
second; browsers need a few updates). The last KEEP_FINISHED finished transfers stay.

A request that is refused before any byte moves (TFTP "File not found", an HTTP 404, a TCP
downloader asking for a missing name) is recorded with ``refused``, as Tftpd64 logs every
request: it is listed finished with status "refused" and the reason. Refusals are kept in
a ring of their own (KEEP_REFUSED), so a client probing for names never pushes the real
transfers out of the list.

``file`` is the name as FileStore has it (it may hold bytes that are not UTF-8); the dict
that goes to browsers carries it readable (``file``) and in the wire form (``path``).
``asked`` is the name the client asked for when the server served or stored another (a
TFTP map rule, the upload folder, a renamed upload), else None.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .bus import Bus
from .files import UnsafePath
from .names import display, to_wire

TRANSFER_TOPIC = "transfers"
PROGRESS_INTERVAL = 0.25
KEEP_FINISHED = 100
KEEP_REFUSED = 100


@dataclass(eq=False)
class Transfer:
    id: int
    kind: str  # "http", "tcp", "tftp"
    direction: str  # "download" | "upload"
    peer: str
    file: str  # relative to the root, as FileStore names it
    size: int | None
    started: float
    options: str = ""
    asked: str | None = None  # the client's name, when ``file`` differs from it
    done_bytes: int = 0
    finished: float | None = None
    result: str | None = None  # None while running; "ok" or the reason it failed
    refused: bool = False  # refused before it began: result is the reason
    _registry: TransferRegistry | None = field(default=None, repr=False)
    _last_publish: float = field(default=0.0, repr=False)

    def advance(self, nbytes: int) -> None:
        self.done_bytes += nbytes
        now = time.monotonic()
        if now - self._last_publish >= PROGRESS_INTERVAL and self._registry is not None:
            self._last_publish = now
            self._registry.publish(self)

    def finish(self, error: str | None = None) -> None:
        if self.finished is not None:
            return
        self.finished = time.time()
        self.result = "ok" if error is None else error
        if self._registry is not None:
            self._registry.finished(self)

    @property
    def status(self) -> str:
        if self.result is None:
            return "running"
        return "refused" if self.refused else "ok" if self.result == "ok" else "failed"

    def as_dict(self) -> dict[str, Any]:
        """``elapsed`` is measured here, so a browser whose clock differs from ours can still
        count on from it."""
        elapsed = max(0.0, (self.finished or time.time()) - self.started)
        return {"id": self.id, "kind": self.kind, "direction": self.direction, "peer": self.peer,
                "file": display(self.file)[0], "path": to_wire(self.file), "size": self.size,
                "asked": display(self.asked)[0] if self.asked is not None else None,
                "bytes": self.done_bytes, "options": self.options, "started": self.started,
                "finished": self.finished, "elapsed": round(elapsed, 3), "result": self.result,
                "status": self.status, "rate": self.done_bytes / elapsed if elapsed > 0 else 0.0}


def refusal_reason(exc: Exception) -> str:
    """Why a named file cannot be served, in words that never hold the absolute path (an
    OSError's text does)."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "a folder, not a file"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return f"refused name: {exc}" if isinstance(exc, UnsafePath) else str(exc)


class TransferRegistry:
    def __init__(self, bus: Bus | None = None) -> None:
        self._bus = bus
        # every transfer says whose it is: with --bus the feeds show every instance's (ids are per instance)
        self.instance = bus.instance if bus is not None else "local"
        self._ids = itertools.count(1)
        self.active: dict[int, Transfer] = {}
        self.recent: deque[Transfer] = deque(maxlen=KEEP_FINISHED)
        self.refusals: deque[Transfer] = deque(maxlen=KEEP_REFUSED)

    def begin(self, kind: str, direction: str, peer: str, file: str, size: int | None,
              options: str = "", asked: str | None = None) -> Transfer:
        transfer = Transfer(next(self._ids), kind, direction, peer, file, size, time.time(), options,
                            asked if asked != file else None, _registry=self)
        self.active[transfer.id] = transfer
        self.publish(transfer)
        return transfer

    def refused(self, kind: str, direction: str, peer: str, file: str, reason: str,
                options: str = "", asked: str | None = None) -> Transfer:
        """A request refused before it began (no such file, a name outside the root, ...)."""
        now = time.time()
        transfer = Transfer(next(self._ids), kind, direction, peer, file, None, now, options,
                            asked if asked != file else None, finished=now, result=reason, refused=True)
        self.refusals.append(transfer)
        self.publish(transfer)
        return transfer

    def finished(self, transfer: Transfer) -> None:
        self.active.pop(transfer.id, None)
        self.recent.append(transfer)
        self.publish(transfer)

    def publish(self, transfer: Transfer) -> None:
        if self._bus is not None:
            self._bus.publish(TRANSFER_TOPIC, self._shown(transfer))

    def snapshot(self) -> list[dict[str, Any]]:
        """Running transfers first, then the finished and refused ones, newest first."""
        running = [self._shown(t) for t in self.active.values()]
        done = sorted([*self.recent, *self.refusals], key=lambda t: t.finished or 0.0, reverse=True)
        return running + [self._shown(t) for t in done]

    def _shown(self, transfer: Transfer) -> dict[str, Any]:
        return {**transfer.as_dict(), "instance": self.instance}
