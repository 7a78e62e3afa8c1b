"""A real, private ``redis-server`` for the tests of ``--bus redis://`` (Debian's package, installed by
tests/tools/ensure_peers.sh like the other peers): on a free loopback port or a unix socket, no
persistence (``--save '' --appendonly no``), ready once PING answers; stop/start keep the address,
so a test can take Redis away and bring it back.

Use the fixture ``redis_server`` (import it into the test module) or ``RedisServer`` directly.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 10.0


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _ping(address: tuple[str, int] | str, timeout: float = 0.3) -> bool:
    """Whether a Redis answers PING at ``address`` (RESP by hand: no client library needed here)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process; ``url`` stays the same across stop() and start()."""

    def __init__(self, workdir: Path, unix_socket: bool = False) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        assert Path(binary).exists(), "redis-server is missing: run make test (tests/tools/ensure_peers.sh installs it)"
        self.binary = binary
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: list[Any] = []
        if unix_socket:
            # a unix socket path is limited to 107 bytes: pytest's tmp_path can be longer
            self._short_dir = Path(tempfile.mkdtemp(prefix="sdredis"))
            self.socket_path: str | None = str(self._short_dir / "redis.sock")
            self.port = 0
            self.url = f"unix://{self.socket_path}"
        else:
            self._short_dir = None
            self.socket_path = None
            self.port = free_tcp_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> tuple[str, int] | str:
        return self.socket_path if self.socket_path is not None else ("127.0.0.1", self.port)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        listen = (["--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700"]
                  if self.socket_path is not None else ["--port", str(self.port), "--bind", "127.0.0.1"])
        self.proc = subprocess.Popen(
            [self.binary, *listen, "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--daemonize", "no", "--loglevel", "warning", "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.address):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING at {self.url}:\n{log}")
            time.sleep(0.02)  # polling a condition (PING answers), bounded by START_TIMEOUT

    def stop(self) -> None:
        """Kill it (as a crash would: no SHUTDOWN, nothing saved: --save '')."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def client(self, socket_timeout: float = 5.0) -> Any:
        """A sockdash redis client (gevent sockets) on this server, closed by ``close()``."""
        from sockets_core.redis_bus import redis_client

        made = redis_client(self.url, socket_timeout=socket_timeout)
        self._clients.append(made)
        return made

    def close(self) -> None:
        for made in self._clients:
            made.close()
            made.connection_pool.disconnect()
        self.stop()
        if self._short_dir is not None:
            shutil.rmtree(self._short_dir, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server on a free loopback port, stopped after the test."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_unix_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server listening on a unix socket only, stopped after the test."""
    server = RedisServer(tmp_path / "redis", unix_socket=True)
    server.start()
    try:
        yield server
    finally:
        server.close()
