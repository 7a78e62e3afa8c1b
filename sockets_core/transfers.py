"""Every file transfer of every kind (HTTP, TCP file, TFTP) in one live list.

A service calls ``begin`` when a transfer starts, ``Transfer.advance`` as bytes move and
``Transfer.finish`` at the end. Progress is published on the bus topic ``transfers`` at
most every PROGRESS_INTERVAL per transfer (a TFTP download moves thousands of blocks a
second; browsers need a few updates). The last KEEP_FINISHED finished transfers stay.

``file`` is the name as FileStore has it (it may hold bytes that are not UTF-8); the dict
that goes to browsers carries it readable (``file``) and in the wire form (``path``).
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .bus import Bus
from .names import display, to_wire

TRANSFER_TOPIC = "transfers"
PROGRESS_INTERVAL = 0.25
KEEP_FINISHED = 100


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
    done_bytes: int = 0
    finished: float | None = None
    result: str | None = None  # None while running; "ok" or the reason it failed
    _registry: "TransferRegistry | None" = field(default=None, repr=False)
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

    def as_dict(self) -> dict[str, Any]:
        elapsed = (self.finished or time.time()) - self.started
        return {"id": self.id, "kind": self.kind, "direction": self.direction, "peer": self.peer,
                "file": display(self.file)[0], "path": to_wire(self.file), "size": self.size, "bytes": self.done_bytes, "options": self.options,
                "started": self.started, "finished": self.finished, "result": self.result,
                "rate": self.done_bytes / elapsed if elapsed > 0 else 0.0}


class TransferRegistry:
    def __init__(self, bus: Bus | None = None) -> None:
        self._bus = bus
        self._ids = itertools.count(1)
        self.active: dict[int, Transfer] = {}
        self.recent: deque[Transfer] = deque(maxlen=KEEP_FINISHED)

    def begin(self, kind: str, direction: str, peer: str, file: str, size: int | None,
              options: str = "") -> Transfer:
        transfer = Transfer(next(self._ids), kind, direction, peer, file, size, time.time(), options,
                            _registry=self)
        self.active[transfer.id] = transfer
        self.publish(transfer)
        return transfer

    def finished(self, transfer: Transfer) -> None:
        self.active.pop(transfer.id, None)
        self.recent.append(transfer)
        self.publish(transfer)

    def publish(self, transfer: Transfer) -> None:
        if self._bus is not None:
            self._bus.publish(TRANSFER_TOPIC, transfer.as_dict())

    def snapshot(self) -> list[dict[str, Any]]:
        """Running transfers first, then the finished ones, newest first."""
        running = [t.as_dict() for t in self.active.values()]
        done = [t.as_dict() for t in reversed(self.recent)]
        return running + done
