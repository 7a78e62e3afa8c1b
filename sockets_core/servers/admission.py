"""Connection admission: who may open one more TCP connection to HTTP, TCP chat or the file server.

Why: a process has RLIMIT_NOFILE descriptors and every connection holds one (a download or
a WebSocket two). Without limits one greedy host - a thousand half-open HTTP requests, a
thousand idle chat sockets - takes them all; then accept() fails with EMFILE and every
service, the dashboard included, stops answering until the attacker leaves.

How it works: each service has an ``Admission`` with two caps, connections from one
address (``per_ip``) and connections in all (``total``), plus a floor of descriptors that
must stay free, shared through one ``FdBudget``:

- chat and file stop admitting while fewer than ``reserve`` descriptors are free;
- HTTP stops only at ``reserve // 2``: the other half of the reserve is the dashboard's,
  so a flood of chat or file connections from many addresses still leaves the page
  working, and the rest stays for what is not a connection (TFTP transfers, files being
  sent, the chat history, WebSocket duplicates).

The open-descriptor count is measured (``/proc/self/fd``) at most every ``MEASURE_EVERY``
seconds and moved by one on each admission and release in between, so a burst of accepts
is counted at once without listing the folder per connection. Before a refusal for want
of descriptors it is measured again (at most every ``REMEASURE_BEFORE_REFUSING`` s): an
evicted connection's descriptor is closed a loop iteration after its slot was handed on.
Listing costs ~0.8 ms per 1000 descriptors, so both intervals stretch to 50 times the last
listing's cost: a process with 100,000 connections lists them every few seconds, not 50
times a second.

A refused connection is closed at once - holding it would spend the very descriptor the
limit protects - after a one-line reply where the protocol has one (``REFUSAL_REPLIES``;
HTTP's 503 is the HTTP server's). The refusal is counted and logged as a WARNING with the
peer and the count, at most one line per service every ``LOG_EVERY`` seconds.

The HTTP server can pass ``make_room``: a refused newcomer may evict an idle connection
(one that never finished its request head, or an idle keep-alive) and take its slot.
"""

from __future__ import annotations

import enum
import logging
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..logthrottle import SINCE_LAST_REPORT, ThrottledWarning
from ..settings import Settings

log = logging.getLogger(__name__)

MEASURE_EVERY = 0.5
REMEASURE_BEFORE_REFUSING = 0.02  # the estimate may be stale (descriptors closed since): look again
MEASURE_COST_SHARE = 50  # listing 1000 descriptors takes ~1 ms: wait 50 times what it took (<= 2% of the time)
LOG_EVERY = 10.0
MAX_RESERVE = 256


class Refusal(enum.Enum):
    PER_IP = "per-address limit"
    TOTAL = "connection limit"
    FDS = "file descriptor reserve"


REFUSAL_REPLIES: dict[str, dict[Refusal, bytes]] = {
    # the course's chat clients print what they receive: say why in one line
    "tcp_chat": {
        Refusal.PER_IP: b"* too many connections from your address; try again later\n",
        Refusal.TOTAL: b"* the chat is full; try again later\n",
        Refusal.FDS: b"* the server is out of resources; try again later\n",
    },
    # the file protocol has no error message: a refused name closes with no data
}


def count_open_fds() -> int | None:
    """Descriptors this process has open, or None where the platform cannot tell."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder)) - 1  # listdir's own descriptor
        except OSError:
            continue
    return None


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # the kernel's ceiling is then nr_open
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 20
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            log.warning("could not raise the open files limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        return soft, target
    return soft, soft


def default_reserve(limit: int) -> int:
    """A quarter of the limit, at most MAX_RESERVE: 256 of 1024, 75 of 300."""
    return min(MAX_RESERVE, limit // 4)


class FdBudget:
    """The process's descriptors: the soft limit, an estimate of those open, the reserve."""

    def __init__(self, reserve: int | None = None, limit: int | None = None,
                 counter: Callable[[], int | None] = count_open_fds,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if limit is None else limit
        self.reserve = default_reserve(self.limit) if reserve is None else reserve
        self._counter = counter
        self._clock = clock
        self._measured_at = float("-inf")
        self._cost = 0.0  # how long the last measurement took
        self._estimate: int | None = None

    def open(self, fresh: bool = False) -> int | None:
        now = self._clock()
        interval = max(REMEASURE_BEFORE_REFUSING if fresh else MEASURE_EVERY, MEASURE_COST_SHARE * self._cost)
        if now - self._measured_at >= interval:
            self._estimate = self._counter()
            self._measured_at = self._clock()
            self._cost = self._measured_at - now
        return self._estimate

    def free(self, fresh: bool = False) -> int | None:
        count = self.open(fresh)
        return None if count is None else self.limit - count

    def moved(self, delta: int) -> None:
        """A connection was admitted (+1) or released (-1) since the last measurement."""
        if self._estimate is not None:
            self._estimate += delta

    def status(self) -> dict[str, int | None]:
        return {"limit": self.limit, "open": self.open(), "reserve": self.reserve}


def refusal_warnings(clock: Callable[[], float] = time.monotonic) -> ThrottledWarning:
    """A service's refusal WARNINGs: one line every LOG_EVERY s, whatever the peer (unkeyed)."""
    return ThrottledWarning(log, LOG_EVERY, suffix=SINCE_LAST_REPORT, clock=clock)


class Ticket:
    """One admitted connection; release() is idempotent (eviction and the handler's end both call it)."""

    __slots__ = ("admission", "ip", "released")

    def __init__(self, admission: Admission, ip: str) -> None:
        self.admission = admission
        self.ip = ip
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.admission._release(self.ip)


MakeRoom = Callable[[str, Refusal], bool]


@dataclass
class RefusalCounts:
    per_ip: int = 0
    total: int = 0
    fds: int = 0


class Admission:
    """The connections of one service: counts per address and in all, and its caps."""

    def __init__(self, service: str, per_ip: int, total: int, budget: FdBudget, fd_floor: int,
                 flags: dict[Refusal, str] | None = None,
                 warnings: ThrottledWarning | None = None) -> None:
        self.service = service
        self.per_ip = per_ip
        self.total = total
        self.budget = budget
        self.fd_floor = fd_floor  # descriptors that must stay free after this service admits one
        self.by_ip: dict[str, int] = {}
        self.open = 0
        self.refusals = RefusalCounts()
        self.evicted = 0
        self.flags = flags or {}
        self.warnings = warnings if warnings is not None else refusal_warnings()

    def check(self, ip: str) -> Refusal | None:
        if self.by_ip.get(ip, 0) >= self.per_ip:
            return Refusal.PER_IP
        if self.open >= self.total:
            return Refusal.TOTAL
        free = self.budget.free()
        if free is not None and free <= self.fd_floor:
            free = self.budget.free(fresh=True)
            if free is not None and free <= self.fd_floor:
                return Refusal.FDS
        return None

    def admit(self, ip: str, make_room: MakeRoom | None = None) -> Ticket | Refusal:
        """A Ticket to release when the connection ends, or why it is refused (counted and logged).

        ``make_room(ip, refusal)`` may end an idle connection (releasing its ticket) and return
        True; the check is then made once more.
        """
        refusal = self.check(ip)
        if refusal is not None and make_room is not None and make_room(ip, refusal):
            self.evicted += 1
            refusal = self.check(ip)
        if refusal is not None:
            self._refused(ip, refusal)
            return refusal
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1
        self.open += 1
        self.budget.moved(+1)
        return Ticket(self, ip)

    def _refused(self, ip: str, refusal: Refusal) -> None:
        if refusal is Refusal.PER_IP:
            self.refusals.per_ip += 1
            what, limit = f"{self.by_ip.get(ip, 0)} connections from {ip}", self.per_ip
        elif refusal is Refusal.TOTAL:
            self.refusals.total += 1
            what, limit = f"{self.open} connections", self.total
        else:
            self.refusals.fds += 1
            what, limit = f"{self.budget.free()} file descriptors free", self.fd_floor
        self.warnings.warn("%s: refused a connection from %s: %s (the %s is %d, %s)", self.service, ip, what,
                           refusal.value, limit, self.flags.get(refusal, "--fd-reserve"))

    def _release(self, ip: str) -> None:
        left = self.by_ip.get(ip, 0) - 1
        if left > 0:
            self.by_ip[ip] = left
        else:
            self.by_ip.pop(ip, None)  # the table holds only addresses with open connections
        self.open -= 1
        self.budget.moved(-1)

    def reply_for(self, refusal: Refusal) -> bytes | None:
        return REFUSAL_REPLIES.get(self.service, {}).get(refusal)

    def status(self) -> dict[str, object]:
        return {"open": self.open, "addresses": len(self.by_ip), "per_ip": self.per_ip, "total": self.total,
                "refused": {"per_ip": self.refusals.per_ip, "total": self.refusals.total,
                            "fds": self.refusals.fds},
                "evicted": self.evicted}


@dataclass(frozen=True)
class ServiceCaps:
    per_ip: int
    total: int
    per_ip_flag: str
    total_flag: str


class AdmissionControl:
    """Every service's Admission over one FdBudget."""

    def __init__(self, caps: dict[str, ServiceCaps], budget: FdBudget) -> None:
        self.budget = budget
        self.services: dict[str, Admission] = {}
        for name, cap in caps.items():
            floor = budget.reserve // 2 if name == "http" else budget.reserve
            self.services[name] = Admission(name, cap.per_ip, cap.total, budget, floor,
                                            {Refusal.PER_IP: cap.per_ip_flag, Refusal.TOTAL: cap.total_flag})

    def __getitem__(self, service: str) -> Admission:
        return self.services[service]

    def get(self, service: str) -> Admission | None:
        return self.services.get(service)


def admission_from_settings(settings: Settings) -> AdmissionControl:
    caps = {
        "http": ServiceCaps(settings.http_max_per_ip, settings.http_max_connections,
                            "--http-max-per-ip", "--http-max-connections"),
        "tcp_chat": ServiceCaps(settings.tcp_chat_max_per_ip, settings.tcp_chat_max_connections,
                                "--tcp-chat-max-per-ip", "--tcp-chat-max-connections"),
        "file": ServiceCaps(settings.file_max_per_ip, settings.file_max_connections,
                            "--file-max-per-ip", "--file-max-connections"),
    }
    return AdmissionControl(caps, FdBudget(settings.fd_reserve))
