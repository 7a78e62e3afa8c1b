"""A private redis-server for ``--workers N`` when no ``--bus`` is given.

Workers of one machine need one bus (the chat, the packet log and the transfer list are one
world). Rather than ask a user who only wants every core to run Redis, the supervisor starts
Debian's ``redis-server`` itself: no TCP port (``--port 0``), a unix socket in the ``--data``
folder readable by this user only, nothing written to disk (``--save ''``, no AOF), stopped
with the supervisor (and killed with it: PR_SET_PDEATHSIG). It is a bus, not a store: what it
holds goes when sockdash stops.

A socket file left by a sockdash that was killed is removed once nothing answers on it; one
that answers belongs to a running sockdash on the same ``--data`` folder, which is an error.
"""

from __future__ import annotations

import logging
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 3.0
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes, the terminating NUL included


class RedisUnavailable(Exception):
    """The private redis-server cannot be had; the message is the one line to print."""


def missing_message(workers: int) -> str:
    return (f"--workers {workers} needs a bus: install redis-server (apt-get install redis-server) "
            "or give --bus redis://HOST:PORT")


def _answers(path: Path) -> bool:
    try:
        client = redis.Redis(unix_socket_path=str(path), socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def _kill_with_parent() -> None:
    """In the child before exec: the kernel sends SIGTERM when the supervisor dies, even by kill -9."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalRedis:
    def __init__(self, data: Path, workers: int, binary: str = "redis-server") -> None:
        self.data = data
        self.workers = workers
        self.binary = binary
        self.path = data / SOCKET_NAME
        self._spare_dir: str | None = None  # when --data's path is too long for a unix socket
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start redis-server and wait until it answers PING; returns the --bus URL."""
        found = shutil.which(self.binary)
        if found is None:
            raise RedisUnavailable(missing_message(self.workers))
        if len(str(self.path).encode()) > UNIX_PATH_MAX:
            self._spare_dir = tempfile.mkdtemp(prefix="sockdash-redis-")
            log.info("the data folder's path is too long for a unix socket; redis listens on %s instead",
                     self._spare_dir)
            self.path = Path(self._spare_dir) / SOCKET_NAME
        self._clear_stale()
        with open(self.data / LOG_NAME, "ab") as logfile:
            self.proc = subprocess.Popen(
                [found, "--save", "", "--appendonly", "no", "--port", "0", "--unixsocket", str(self.path),
                 "--unixsocketperm", "700", "--dir", str(self.data), "--daemonize", "no",
                 "--loglevel", "warning"],
                stdin=subprocess.DEVNULL, stdout=logfile, stderr=subprocess.STDOUT,
                preexec_fn=_kill_with_parent, start_new_session=True)  # Ctrl-C reaches sockdash, not redis
        deadline = time.monotonic() + timeout
        while not _answers(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop_process()  # not stop(): a restart keeps the spare folder, so the URL stays
                raise RedisUnavailable(f"the private redis-server did not start (see {self.data / LOG_NAME})")
            time.sleep(0.05)  # redis-server needs a few ms to create its socket
        log.info("private redis-server (pid %d) on %s", self.proc.pid, self.path)
        return self.url

    def _clear_stale(self) -> None:
        if not self.path.exists() and not self.path.is_symlink():
            return
        if _answers(self.path):
            raise RedisUnavailable(f"{self.path} answers: another sockdash with --workers uses the data "
                                   f"folder {self.data}; give this one another --data")
        log.info("removing the stale redis socket %s (left by a sockdash that was killed)", self.path)
        self.path.unlink()

    def died(self) -> int | None:
        """The exit status of a redis-server that is gone (kill -9, OOM killer), else None."""
        return self.proc.poll() if self.proc is not None else None

    def restart(self, timeout: float = START_TIMEOUT) -> str:
        """Start it again on the same socket: the workers' clients reconnect to the same URL."""
        self.stop_process()
        return self.start(timeout)

    def stop_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self.stop_process()
        self.path.unlink(missing_ok=True)  # redis removes it on a clean exit; not after SIGKILL
        if self._spare_dir is not None:
            shutil.rmtree(self._spare_dir, ignore_errors=True)

