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

With ``--bus`` (``follow_cluster``) the list holds every instance's transfers: one greenlet
reads the other instances' items from the cluster topic and keeps them keyed (instance, id),
bounded like this instance's own (KEEP_FINISHED, KEEP_REFUSED, REMOTE_RUNNING_MAX; a running
one nobody heard of for REMOTE_STALE seconds, its instance killed, is dropped).
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import gevent

from .bus import Bus, Subscription
from .cluster.loops import spawn_forever
from .files import UnsafePath
from .names import display, to_wire

TRANSFER_TOPIC = "transfers"
PROGRESS_INTERVAL = 0.25
KEEP_FINISHED = 100
KEEP_REFUSED = 100
REMOTE_RUNNING_MAX = 1_000  # other instances' running transfers kept (oldest heard of dropped)
REMOTE_STALE = 60.0  # seconds: a remote running transfer not heard of since is dropped (instance gone)
REMOTE_QUEUE = 10_000  # cluster transfer items the follower may lag behind by


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
        # other instances' (--bus): (instance, id) -> (item, monotonic time heard of)
        self.remote_running: OrderedDict[tuple[str, int], tuple[dict[str, Any], float]] = OrderedDict()
        self.remote_recent: deque[dict[str, Any]] = deque(maxlen=KEEP_FINISHED)
        self.remote_refusals: deque[dict[str, Any]] = deque(maxlen=KEEP_REFUSED)
        self._follower: tuple[Subscription, gevent.Greenlet[Any, Any]] | None = None

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
        """Running transfers first (this instance's, then the others'), then the finished and
        refused ones of every instance, newest first."""
        running = [self._shown(t) for t in self.active.values()]
        stale = time.monotonic() - REMOTE_STALE
        running += [item for item, heard in self.remote_running.values() if heard >= stale]
        done = [self._shown(t) for t in (*self.recent, *self.refusals)] + [*self.remote_recent, *self.remote_refusals]
        done.sort(key=lambda item: item.get("finished") or 0.0, reverse=True)
        return running + done

    # -- the other instances' transfers (--bus) ----------------------------------------------
    def follow_cluster(self) -> None:
        """Keep the other instances' transfers from the cluster topic (one greenlet)."""
        if self._bus is None or self._follower is not None:
            return
        sub = self._bus.subscribe([TRANSFER_TOPIC], limit=REMOTE_QUEUE, name="transfers of other instances")

        def run() -> None:
            while not sub.closed:  # close() wakes the wait
                for _, item in sub.get_batch(timeout=None).items:
                    self.remember(item)
        self._follower = (sub, spawn_forever("transfers follower", run, lambda: not sub.closed))

    def stop_following(self) -> None:
        if self._follower is not None:
            sub, greenlet = self._follower
            sub.close()
            greenlet.kill(block=False)
            self._follower = None

    def remember(self, item: Any) -> None:
        """One cluster item: another instance's transfer as it is now (its own are ignored)."""
        if not isinstance(item, dict) or item.get("instance") in (None, self.instance) \
                or not isinstance(item.get("id"), int | str):  # an unhashable id would end the follower
            return
        key = (str(item["instance"]), item["id"])
        self.remote_running.pop(key, None)
        status = item.get("status")
        if status == "running":
            self.remote_running[key] = (item, time.monotonic())
            if len(self.remote_running) > REMOTE_RUNNING_MAX:
                self.remote_running.popitem(last=False)
        elif status == "refused":
            self.remote_refusals.append(item)
        else:
            self.remote_recent.append(item)

    def _shown(self, transfer: Transfer) -> dict[str, Any]:
        return {**transfer.as_dict(), "instance": self.instance}
