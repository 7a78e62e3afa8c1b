"""``--workers N``: N sockdash processes serve the same ports, so every core does work.

How it works. This process (the supervisor) serves nothing and runs no event loop. It decides
each service's port once — port 0 becomes a real port, 69 -> 6969 and 514 -> 5514 when the
well-known port cannot be bound — by a plain bind that fails when anything holds the port
(webapp.worker_ports), and tells every worker it starts (and restarts) those ports: each binds
them with SO_REUSEPORT as its services start (sockets_core.servers.listen). Only a worker that
is about to serve holds a socket of the group, so nothing queues where nobody reads: sockets
bound by the supervisor for a worker still importing Flask held back the share of connections
and datagrams hashed to them for the second or two of its start.

Why SO_REUSEPORT and not one acceptor handing descriptors over (measured in
docs/BENCHMARKS.md, "Workers"): the kernel spreads TCP connections and UDP datagrams over the
workers by a hash of the 4-tuple, with no extra hop and no process in the path that could be
the bottleneck or the single point of failure; a TFTP client's repeated request hashes to the
same worker as its first one, so a retransmitted RRQ never starts a second transfer elsewhere.
An acceptor would have to read every TFTP request and UDP chat datagram itself and pass each on.

N > 1 needs a bus (the chat, the packet log and the transfer list are one world): ``--bus`` as
given, else a private redis-server on a unix socket in ``--data`` (sockets_core.redis_local).

A worker that dies is started again after a delay that doubles with each quick death (0.5 s up
to 10 s), so a crash loop does not spin. SIGTERM and SIGINT stop every worker and then the
private Redis; SIGHUP is passed on (each worker reads the --tftp-map again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from sockets_core.chat.events import ChatEvent
from sockets_core.chat.history import ChatHistory
from sockets_core.servers.listen import WORKER_PORTS_ENV, BindError, share_ports
from sockets_core.settings import Settings

from .worker_ports import decide_ports

if TYPE_CHECKING:
    import subprocess

    from sockets_core.redis_local import LocalRedis

log = logging.getLogger("sockdash.workers")

WORKER_ENV = "SOCKDASH_WORKER"  # the worker's number, 1..N (its log lines and X-Sockdash-Worker say it)
NOTES_ENV = "SOCKDASH_WORKER_NOTES"  # JSON: service -> why its port is not the one asked for
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
STABLE_AFTER = 30.0  # a worker that served this long before dying starts again at once
BANNER_MAX = 64  # lines kept of what a worker prints before its banner is complete; more are passed on
STOP_TIMEOUT = 3.0  # a worker stops within 2 s (README); after this it is killed
TEXT_FORMAT = "%(asctime)s %(levelname)s worker %(worker)s %(name)s: %(message)s"


# -- in a worker ---------------------------------------------------------------------------
def worker_number(environ: dict[str, str] | None = None) -> int | None:
    value = (os.environ if environ is None else environ).get(WORKER_ENV)
    return int(value) if value else None


def handed_down_notes() -> dict[str, str]:
    return dict(json.loads(os.environ.get(NOTES_ENV) or "{}"))


WRITER = 1  # the worker that alone binds syslog and writes the shared files (see for_worker)


def for_worker(settings: Settings, number: int) -> Settings:
    """What one worker does of what must happen once. Worker 1 alone binds syslog (each
    worker's ring would hold the share of datagrams the kernel hashed to it: the Syslog page
    would show a random subset) and writes --syslog-file and --packet-log-file (N rotating
    writers of one file lose lines when they rotate; worker 1 has every worker's packet
    events: the cluster shares them, cluster/packets.py)."""
    if number == WRITER:
        return settings
    return dataclasses.replace(settings, disabled=settings.disabled | {"syslog"}, syslog_file=None,
                               packet_log_file=None)


class ReadingHistory(ChatHistory):
    """The chat history of a worker other than worker 1: it reads data/chat.sqlite3 and stores
    nothing, for every worker gets every room message from the bus and worker 1 stores it (N
    writers of one SQLite file store each message N times over and wait on each other's locks).
    A clear an admin asks of this worker reaches worker 1 on the bus, which clears the file."""

    def add(self, event: ChatEvent) -> None:
        return None

    def clear(self, room: str) -> int:
        return len(self.recent(room, limit=1 << 30))  # what worker 1 removes


def open_history(path: Path, number: int | None) -> ChatHistory:
    return ChatHistory(path) if number in (None, WRITER) else ReadingHistory(path)


class _WorkerTag(logging.Filter):
    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.number  # a field of its own in --log-format json
        return True


def tag_logs(number: int, log_format: str) -> None:
    """Every log line of this worker says which worker wrote it."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(_WorkerTag(number))
        if log_format == "text":
            handler.setFormatter(logging.Formatter(TEXT_FORMAT))


# -- in the supervisor -----------------------------------------------------------------------
SECRET_FLAGS = ("--bus", "--admin-token")  # handed to workers as SOCKDASH_BUS / SOCKDASH_ADMIN_TOKEN


def without_secrets(argv: list[str]) -> list[str]:
    """``argv`` less the flags that may hold a password: a worker's command line is readable by
    every user (ps, /proc/PID/cmdline), its environment is not. Abbreviations count too
    (argparse takes ``--admin`` for ``--admin-token``)."""
    from sockets_core.settings import build_parser

    options = [o for o in build_parser()._option_string_actions if o.startswith("--")]

    def secret(name: str) -> bool:
        if name in options:
            return name in SECRET_FLAGS
        matches = [o for o in options if o.startswith(name)]
        return len(matches) == 1 and matches[0] in SECRET_FLAGS

    kept: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
        elif arg.startswith("--") and secret(arg.split("=", 1)[0]):
            skip_value = "=" not in arg
        else:
            kept.append(arg)
    return kept

def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphan after kill -9


def describe_exit(code: int) -> str:
    if code >= 0:
        return f"exited with status {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


@dataclass
class Worker:
    number: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    ready: bool = False
    quick_deaths: int = 0
    restart_at: float | None = None
    banner: list[str] = field(default_factory=list)
    pending: bytes = b""


class Supervisor:
    def __init__(self, argv: list[str], settings: Settings, ports: dict[str, int], env: dict[str, str],
                 bus_shown: str, local: LocalRedis | None = None) -> None:
        self.argv = without_secrets(argv)  # the secrets are in env
        self.local = local  # the private redis-server, watched and started again like a worker
        self.redis_started = time.monotonic()
        self.redis_quick_deaths = 0
        self.redis_restart_at: float | None = None
        self.bus_shown = bus_shown
        self.settings = settings
        self.ports = ports
        self.env = env  # what every worker gets besides its sockets and its number
        self.workers = [Worker(n) for n in range(1, settings.workers + 1)]
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._signals: list[int] = []
        self.stopping = False
        self.serving = False  # every worker was ready once: from then on a death means a restart
        self.failed: int | None = None

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._signals.append(signum)

    def spawn(self, worker: Worker) -> None:
        import subprocess

        worker.restart_at = None
        env = {**os.environ, **self.env, WORKER_PORTS_ENV: share_ports(self.ports), WORKER_ENV: str(worker.number)}
        worker.proc = subprocess.Popen([sys.executable, "-m", "webapp", *self.argv], env=env,
                                       stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
        assert worker.proc.stdout is not None
        os.set_blocking(worker.proc.stdout.fileno(), False)
        self.selector.register(worker.proc.stdout, selectors.EVENT_READ, worker)
        worker.started, worker.ready, worker.banner, worker.pending = time.monotonic(), False, [], b""

    def _read(self, worker: Worker, stream: IO[bytes]) -> None:
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            self.selector.unregister(stream)
            stream.close()
            return
        *lines, worker.pending = (worker.pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if not worker.ready:
                if len(worker.banner) < BANNER_MAX:  # bounded: a worker that never gets ready may print on
                    worker.banner.append(line)
                else:
                    print(line, flush=True)
                if line.startswith("Admin:"):
                    worker.ready = True
                    if self.serving and worker.proc is not None:  # not None: its output is read before it is reaped
                        log.info("worker %d (pid %d) serves again", worker.number, worker.proc.pid)
            else:
                print(line, flush=True)

    def _schedule_restart(self, worker: Worker, now: float) -> float:
        """Sets and returns when ``worker`` starts again."""
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** worker.quick_deaths)
        worker.quick_deaths += 1
        worker.restart_at = now + delay
        return worker.restart_at

    def _kill_the_stuck(self, now: float) -> None:
        """A restarted worker that does not serve within --worker-start-timeout (hung on a lock, a
        disk, a bus that does not answer) is killed: _reap starts it again after a longer delay."""
        timeout = self.settings.worker_start_timeout
        for worker in self.workers:
            if worker.proc is not None and not worker.ready and now - worker.started > timeout:
                log.warning("worker %d (pid %d) did not serve within %.0f s (--worker-start-timeout): killed",
                            worker.number, worker.proc.pid, timeout)
                worker.proc.kill()
                worker.proc.wait()

    def _reap(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.proc is None or (code := worker.proc.poll()) is None:
                continue
            stream = worker.proc.stdout
            with contextlib.suppress(BlockingIOError):  # what it wrote before it died: all there, then EOF
                while stream is not None and not stream.closed:
                    self._read(worker, stream)
            pid, worker.proc = worker.proc.pid, None
            if self.stopping:
                continue
            if not self.serving:  # a worker that cannot start: its error is on stderr already
                self.failed = code if code > 0 else 1
                self.stopping = True
                continue
            if worker.ready and now - worker.started >= STABLE_AFTER:  # one that never served: backoff
                worker.quick_deaths, worker.restart_at = 0, now
                restart_at = now
            else:
                restart_at = self._schedule_restart(worker, now)
            log.warning("worker %d (pid %d) %s; starting it again in %.1f s", worker.number, pid,
                        describe_exit(code), restart_at - now)

    def _watch_redis(self, now: float) -> None:
        """Without its bus the workers are N separate worlds and a crashed worker cannot start
        again (it connects to the bus first): a private redis-server that died is started
        again on the same socket, after the same doubling delay as a worker."""
        local = self.local
        if local is None or self.stopping:
            return
        if self.redis_restart_at is None:
            code = local.died()
            if code is None:
                return
            quick = now - self.redis_started < STABLE_AFTER
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** self.redis_quick_deaths) if quick else 0.0
            self.redis_quick_deaths = self.redis_quick_deaths + 1 if quick else 0
            self.redis_restart_at = now + delay
            log.warning("the private redis-server %s; starting it again in %.1f s", describe_exit(code), delay)
        if now < self.redis_restart_at:
            return
        from sockets_core.redis_local import RedisUnavailable

        self.redis_restart_at = None
        self.redis_started = time.monotonic()  # a start that fails counts as a quick death
        try:
            local.restart()
        except RedisUnavailable as exc:
            log.error("%s", exc)  # died() says so at the next step: tried again after a longer delay
            return
        log.warning("the private redis-server (pid %d) serves again on %s", local.proc.pid if local.proc else 0,
                    local.path)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                self.stopping = True
            elif signum == signal.SIGHUP:
                if self.settings.tftp_map is None:
                    log.info("SIGHUP: nothing to reload (no --tftp-map)")
                    continue
                for worker in self.workers:
                    if worker.proc is not None:
                        worker.proc.send_signal(signal.SIGHUP)

    def step(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.fileobj is self._wake_r:
                with contextlib.suppress(BlockingIOError):  # the signal itself is in self._signals
                    self._wake_r.recv(4096)
            else:
                # registered in spawn with its Worker as data: that worker's proc.stdout
                self._read(key.data, cast(IO[bytes], key.fileobj))
        self._handle_signals()
        if self.serving and not self.stopping:
            self._kill_the_stuck(time.monotonic())
        self._reap()
        self._watch_redis(time.monotonic())
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None and worker.restart_at <= now and not self.stopping:
                self.spawn(worker)

    def _next_timeout(self) -> float:
        due = [w.restart_at for w in self.workers if w.restart_at is not None]
        if self.redis_restart_at is not None:
            due.append(self.redis_restart_at)
        return max(0.0, min([0.5, *(t - time.monotonic() for t in due)]))

    def _wait_ready(self, workers: list[Worker]) -> bool:
        timeout = self.settings.worker_start_timeout
        deadline = time.monotonic() + timeout
        while not self.stopping and not all(w.ready for w in workers):
            if time.monotonic() > deadline:
                log.error("the workers did not start within %.0f s (--worker-start-timeout)", timeout)
                self.failed, self.stopping = 1, True
            self.step(0.5)
        return not self.stopping

    def run(self) -> int:
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ)
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno())
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {s: signal.signal(s, self._on_signal) for s in handled}
        try:
            self.spawn(self.workers[0])  # first alone: a bad start is said once, not N times
            if self._wait_ready(self.workers[:1]):
                for worker in self.workers[1:]:
                    self.spawn(worker)
                if self._wait_ready(self.workers):
                    self.serving = True
                    print(self.banner(), flush=True)
                    while not self.stopping:
                        self.step(self._next_timeout())
            log.info("stopping")
        finally:
            self.stop_all()
            signal.set_wakeup_fd(old_wakeup)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.selector.close()
            self._wake_r.close()
            self._wake_w.close()
        return self.failed or 0

    def banner(self) -> str:
        lines = list(self.workers[0].banner)
        pids = " ".join(str(w.proc.pid) for w in self.workers if w.proc is not None)
        lines.insert(1, f"  {len(self.workers)} workers (pids {pids}) share these ports; bus {self.bus_shown}")
        return "\n".join(lines)

    def stop_all(self) -> None:
        self.stopping = True
        for proc in [w.proc for w in self.workers if w.proc is not None]:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(w.proc is not None for w in self.workers) and time.monotonic() < deadline:
            self.step(0.05)
        for worker in self.workers:
            if worker.proc is not None:
                log.warning("worker %d (pid %d) did not stop within %.0f s: killed", worker.number,
                            worker.proc.pid, STOP_TIMEOUT)
                worker.proc.kill()
                worker.proc.wait()
                worker.proc = None


def supervise(argv: list[str]) -> int:
    """The `sockdash --workers N` command (N > 1): checks once, then runs the workers."""
    from sockets_core.redis_bus import redact_url
    from sockets_core.redis_local import LocalRedis, RedisUnavailable
    from sockets_core.settings import parse_settings

    from . import logformat
    from .auth import load_or_create_token
    from .cli import StartupError, prepare_data, prepare_root

    settings = parse_settings(argv)  # webapp.__main__ parsed it already: no error here
    logformat.configure(settings.log_level, settings.log_format)
    bus = settings.bus
    local = None
    try:
        prepare_root(settings.root)
        data = prepare_data(settings.data)
        # the token, the ports and the fallbacks are decided here once, not by each worker
        token = load_or_create_token(data, settings.admin_token)  # kept in --data before a worker reads it
        # only a given token goes as one: a worker with --admin-token sets the cluster's (cluster/shared.py),
        # one without adopts it, like any instance without the flag
        env = {"SOCKDASH_ADMIN_TOKEN": token} if settings.admin_token else {}
        ports, notes = decide_ports(settings)
        env[NOTES_ENV] = json.dumps(notes)
        if bus:
            env["SOCKDASH_BUS"] = bus
        else:
            local = LocalRedis(data, settings.workers)
            bus = env["SOCKDASH_BUS"] = local.start()
    except (StartupError, BindError, RedisUnavailable, OSError) as exc:
        if local is not None:
            local.stop()
        print(f"sockdash: error: {exc}", file=sys.stderr)
        return 2
    shown = f"{redact_url(bus)} (a private redis-server)" if local is not None else redact_url(bus)
    try:
        code = Supervisor(argv, settings, ports, env, shown, local).run()
    finally:
        if local is not None:
            local.stop()
    print("sockdash stopped", flush=True)
    return code
