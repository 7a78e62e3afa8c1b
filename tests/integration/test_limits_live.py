"""Running out of file descriptors or connections must not stop the dashboard (issue #10).

The real process under ``prlimit``, attacked from 127.0.0.1 with half-open HTTP requests and
idle chat connections; the dashboard and a client from another loopback address must still
be served. Plus the HTTP timeouts (head deadline, keep-alive idle, stalled download) with
small flag values, and the access log that must never show the admin token.
"""

from __future__ import annotations

import json
import resource
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import harness
from tests.harness import HALF_OPEN_HEAD, open_many, recv_until

HOST = "127.0.0.1"
OTHER_HOST = "127.0.0.2"  # another address of the loopback network: "another client"
ATTACK = 1100


@pytest.fixture(autouse=True)
def enough_descriptors_for_the_attacker() -> Iterator[None]:
    """This process holds the attacker's sockets (2 x 1100) and must not run out itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 4 * ATTACK
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, max(hard, need)))


def read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def status_within(proc: harness.Sockdash, timeout: float) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(proc.base_url + "/api/status", timeout=timeout) as response:
        return json.load(response)  # type: ignore[no-any-return]


def test_greedy_host_does_not_stop_the_dashboard_or_other_clients(tmp_path: Path) -> None:
    proc = harness.start(tmp_path, prefix=["prlimit", "--nofile=1024:1024", "--"])
    attack: list[socket.socket] = []
    try:
        attack += open_many(proc.ports["http"], ATTACK, HALF_OPEN_HEAD)
        attack += open_many(proc.ports["tcp_chat"], ATTACK)

        # the dashboard answers at once, even to the attacking address itself
        started = time.monotonic()
        status = status_within(proc, timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert status["fds"]["limit"] == 1024 and 0 < status["fds"]["open"] < 1024

        # a chat client from another address gets its greeting
        other = socket.create_connection((HOST, proc.ports["tcp_chat"]), timeout=5,
                                         source_address=(OTHER_HOST, 0))
        with other:
            assert b"welcome to sockdash chat" in recv_until(other, b"/help")

        # one more from the greedy address is told why it is refused, in one line
        greedy = socket.create_connection((HOST, proc.ports["tcp_chat"]), timeout=5)
        with greedy:
            assert read_to_eof(greedy) == b"* too many connections from your address; try again later\n"

        limits = proc.wait_for(lambda: (s := proc.status()["services"])["tcp_chat"]["limits"]
                               ["refused"]["per_ip"] >= ATTACK - 64 and s)
        chat, http = limits["tcp_chat"]["limits"], limits["http"]["limits"]
        assert chat["open"] <= chat["per_ip"] + 1  # the attacker's share (+ the one from 127.0.0.2)
        # half-open HTTP connections made room for newer ones instead of holding the fds
        assert http["evicted"] >= ATTACK - http["per_ip"]
        assert http["open"] <= http["per_ip"] + 1
        warnings = [line for line in proc.output if "WARNING" in line and "tcp_chat" in line]
        assert warnings and "127.0.0.1" in warnings[0] and "per-address limit" in warnings[0]
        # rate-limited: one line, not one per refused connection
        assert len(warnings) <= 3
        assert not any("Too many open files" in line for line in proc.output)
    finally:
        for sock in attack:
            sock.close()
        assert proc.stop() == 0


def test_fd_reserve_keeps_the_dashboard_when_connections_would_exhaust_the_limit(tmp_path: Path) -> None:
    # per-address caps out of the way: only the descriptor reserve stands between the
    # attacker and EMFILE
    proc = harness.start(tmp_path, "--tcp-chat-max-per-ip", "5000", "--tcp-chat-max-connections", "5000",
                         prefix=["prlimit", "--nofile=300:300", "--"])
    attack: list[socket.socket] = []
    try:
        attack += open_many(proc.ports["tcp_chat"], 400)
        status = proc.wait_for(lambda: (s := proc.status())["services"]["tcp_chat"]["limits"]
                               ["refused"]["fds"] > 0 and s)
        fds = status["fds"]
        assert fds["limit"] == 300 and fds["reserve"] == 75
        assert fds["open"] <= fds["limit"] - fds["reserve"] + 5  # the estimate lags at most a few
        assert status_within(proc, timeout=1.0)["services"]["http"]["running"]
        assert any("descriptors" in line and "WARNING" in line for line in proc.output)
        assert not any("Too many open files" in line for line in proc.output)
    finally:
        for sock in attack:
            sock.close()
        assert proc.stop() == 0


@pytest.fixture(scope="module")
def quick_timeouts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    proc = harness.start(tmp_path_factory.mktemp("limits"), "--http-head-timeout", "0.5",
                         "--http-idle-timeout", "0.5", "--http-write-timeout", "0.5", "--log-level", "DEBUG")
    big = proc.root / "big.bin"
    with open(big, "wb") as f:
        f.truncate(64 << 20)  # far more than the socket buffers of both ends hold
    yield proc
    proc.stop()


def test_request_head_has_a_deadline(quick_timeouts: harness.Sockdash) -> None:
    with socket.create_connection((HOST, quick_timeouts.ports["http"]), timeout=5) as sock:
        sock.sendall(HALF_OPEN_HEAD)
        started = time.monotonic()
        reply = read_to_eof(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 4.0


def test_idle_keep_alive_connection_is_closed(quick_timeouts: harness.Sockdash) -> None:
    with socket.create_connection((HOST, quick_timeouts.ports["http"]), timeout=5) as sock:
        sock.sendall(f"GET /api/status HTTP/1.1\r\nHost: {HOST}:{quick_timeouts.ports['http']}\r\n\r\n".encode())
        first = recv_until(sock, b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 ")
        # the body follows; then nothing more is asked and the server closes the connection
        read_to_eof(sock)


def test_download_to_a_peer_that_stopped_reading_is_dropped(quick_timeouts: harness.Sockdash) -> None:
    size = (quick_timeouts.root / "big.bin").stat().st_size
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect((HOST, quick_timeouts.ports["http"]))
        sock.sendall(f"GET /files/big.bin HTTP/1.1\r\nHost: {HOST}:{quick_timeouts.ports['http']}\r\n\r\n".encode())
        # we read nothing until the server has given up on us
        quick_timeouts.wait_for(lambda: quick_timeouts.status()["services"]["http"]["limits"]["write_timeouts"] >= 1,
                                timeout=10)
        received = read_to_eof(sock)
    assert 0 < len(received) < size
    assert any("WARNING" in line and "stopped reading" in line for line in quick_timeouts.output)


def test_access_log_never_shows_the_admin_token(quick_timeouts: harness.Sockdash) -> None:
    token = quick_timeouts.token
    with urllib.request.urlopen(f"{quick_timeouts.base_url}/?token={token}&x=1", timeout=5) as response:
        response.read()
    lines = quick_timeouts.wait_for(lambda: [line for line in quick_timeouts.output
                                             if "sockdash.http" in line and "/?token=" in line])
    assert token not in "\n".join(line for line in quick_timeouts.output if not line.startswith("Admin:"))
    assert "token=[redacted]&x=1" in lines[0]


def test_a_reserve_as_large_as_the_limit_is_one_clear_error(tmp_path: Path) -> None:
    result = harness.run_to_exit(tmp_path, "--fd-reserve", str(2**31), *harness.ALL_PORTS_ZERO)
    assert result.returncode == 2
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    message = (f"sockdash: error: --fd-reserve {2**31} leaves no descriptor for connections: "
               f"the open-files limit is {limit}")
    assert result.stderr.strip().splitlines() == [message]
