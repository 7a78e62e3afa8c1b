"""The sockdash process itself: banner, flags, errors, signals, IPv6."""

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sockets_core import settings
from sockets_core.settings import env_name
from tests import harness
from tests.integration.unprivileged import PortableSockdash, as_nobody, portable_sockdash, runnable_python

SERVICES = ("http", "tcp_chat", "udp_chat", "file", "tftp", "syslog")


def test_port_zero_binds_free_ports_reported_alike_in_banner_and_status(sockdash: harness.Sockdash) -> None:
    status = sockdash.status()["services"]
    assert set(sockdash.ports) == set(SERVICES)
    for name in SERVICES:
        assert status[name]["running"] is True
        assert status[name]["port"] == sockdash.ports[name] != 0
    assert any(line.startswith("Admin:") and f"?token={harness.ADMIN_TOKEN}" in line for line in sockdash.banner)
    assert any(line.startswith("Dashboard:") and f"http://127.0.0.1:{sockdash.ports['http']}/" in line
               for line in sockdash.banner)


@pytest.mark.parametrize("service, flag, kind", [
    ("tcp_chat", "--tcp-chat-port", socket.SOCK_STREAM),
    ("udp_chat", "--udp-chat-port", socket.SOCK_DGRAM),
    ("http", "--http-port", socket.SOCK_STREAM),
    ("tftp", "--tftp-port", socket.SOCK_DGRAM),
    ("syslog", "--syslog-port", socket.SOCK_DGRAM),
])
def test_port_in_use_prints_one_line_and_exits_2(tmp_path: Path, service: str, flag: str, kind: int) -> None:
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        others = [f for f in harness.ALL_PORTS_ZERO[::2] if f != flag]
        ports = [a for pair in zip(others, ["0"] * len(others), strict=True) for a in pair]
        result = harness.run_to_exit(tmp_path, "--host", "127.0.0.1", *ports, flag, str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert service in lines[0] and str(port) in lines[0] and "already in use" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("args, needle", [
    (["--http-port", "http"], "--http-port"),
    (["--disable", "everything"], "unknown service"),
    (["--nonsense"], "--nonsense"),
])
def test_bad_flag_prints_one_line_and_exits_2(tmp_path: Path, args: list[str], needle: str) -> None:
    result = harness.run_to_exit(tmp_path, *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr


def test_root_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    result = harness.run_to_exit(tmp_path, "--root", str(not_a_folder), *harness.ALL_PORTS_ZERO)
    assert result.returncode == 2 and "not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_lists_the_flags(tmp_path: Path) -> None:
    result = harness.run_to_exit(tmp_path, "--help")
    assert result.returncode == 0
    for flag in ("--http-port", "--tftp-write", "--disable", "SOCKDASH_HTTP_PORT"):
        assert flag in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_everything_promptly_with_exit_0(tmp_path: Path, signum: int) -> None:
    proc = harness.start(tmp_path)
    # a connected client and an open WebSocket-less HTTP keep-alive must not hold the exit up
    client = socket.create_connection(("127.0.0.1", proc.ports["tcp_chat"]), timeout=5)
    client.recv(1024)
    started = time.monotonic()
    assert proc.stop(signum, timeout=10) == 0
    elapsed = time.monotonic() - started
    client.close()
    # the contract is 2 s; the margin absorbs interpreter exit on a loaded CI machine
    assert elapsed < 4.0, f"took {elapsed:.1f} s to stop"
    assert "sockdash stopped" in "\n".join(proc.output)


def test_environment_variables_configure_the_process(tmp_path: Path) -> None:
    # Every port from the environment, all free ones (0): a port left out falls back to its default,
    # and syslog's (514, else 5514) is shared with every other sockdash started on this machine, so
    # a start failed at random with "port 5514 ... is already in use" while another run held both.
    env = {env_name(f"--{name.replace('_', '-')}-port"): "0" for name in ("http", *settings.SERVICES)}
    env["SOCKDASH_DISABLE"] = "tftp,file"
    proc = harness.start(tmp_path, ports=[], env=env)
    try:
        status = proc.status()["services"]
        assert status["tftp"]["running"] is False and status["file"]["running"] is False
        assert status["tcp_chat"]["running"] is True
        assert any("tftp" in line and "disabled" in line for line in proc.output)
    finally:
        assert proc.stop() == 0


def test_admin_token_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    argv = ["--host", "127.0.0.1", "--root", str(tmp_path / "r"), "--data", str(tmp_path / "d"),
            *harness.ALL_PORTS_ZERO]
    tokens = []
    for _ in range(2):
        with subprocess.Popen([*harness.command(), *argv], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("Admin:"):
                    tokens.append(line.rsplit("?token=", 1)[1].strip())
                    break
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
    assert tokens[0] == tokens[1] and len(tokens[0]) >= 16
    mode = stat.S_IMODE(os.stat(tmp_path / "d" / "admin_token").st_mode)
    assert mode == 0o600


def test_chat_history_files_are_private_also_when_an_older_version_left_them_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    old = data / "chat.sqlite3"
    old.write_bytes(b"")  # an empty file is an empty database
    old.chmod(0o644)
    proc = harness.start(tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", proc.ports["tcp_chat"]), timeout=5) as client:
            client.recv(1024)
            client.sendall(b"kept in the history\n")
            # the history writes its WAL when it flushes (twice a second)
            proc.wait_for(lambda: (data / "chat.sqlite3-wal").exists() and (data / "chat.sqlite3-shm").exists())
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in data.glob("chat.sqlite3*")}
    finally:
        assert proc.stop() == 0
    assert modes == {"chat.sqlite3": 0o600, "chat.sqlite3-wal": 0o600, "chat.sqlite3-shm": 0o600}


def test_ipv6_wildcard_serves_ipv6_and_ipv4(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.fail("this machine has no IPv6; the test needs ::1")
    proc = harness.start(tmp_path, host="::")
    try:
        for family, addr in ((socket.AF_INET6, "::1"), (socket.AF_INET, "127.0.0.1")):
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect((addr, proc.ports["tcp_chat"]))
                assert b"welcome" in s.recv(1024)
            with socket.socket(family, socket.SOCK_DGRAM) as u:
                u.settimeout(5)
                u.sendto(b"\x00\x01hello.txt\x00octet\x00", (addr, proc.ports["tftp"]))
                data, _ = u.recvfrom(1024)
                assert data.startswith(b"\x00\x03\x00\x01Hello from sockdash")
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def portable() -> Iterator[PortableSockdash]:
    """sockdash copied where nobody can read it, wherever this checkout lives."""
    with portable_sockdash() as copy:
        yield copy


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder that nobody may enter (pytest's own are 0700 up to /tmp/pytest-of-root)."""
    base = Path(tempfile.mkdtemp(prefix="sockdash-test-", dir="/tmp"))
    base.chmod(0o777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_unreadable_root_and_unwritable_data_are_one_line_errors(open_tmp: Path, portable: PortableSockdash) -> None:
    tmp_path = open_tmp
    secret = tmp_path / "secret"
    secret.mkdir(mode=0o700)
    secret.chmod(0o700)
    (tmp_path / "data").mkdir(mode=0o777)
    (tmp_path / "data").chmod(0o777)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    base = [*portable.command(), *harness.ALL_PORTS_ZERO, "--host", "127.0.0.1"]
    cases = [([*base, "--root", str(secret), "--data", str(tmp_path / "data")], "is not readable"),
             ([*base, "--root", str(tmp_path / "files"), "--data", str(locked / "d")], "is not writable")]
    for argv, needle in cases:
        result = subprocess.run(as_nobody(argv), capture_output=True, text=True, timeout=30,
                                cwd=tmp_path, env=portable.env())
        assert result.returncode == 2, result.stderr
        assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_without_root_tftp_falls_back_to_6969_and_syslog_to_5514(open_tmp: Path, portable: PortableSockdash) -> None:
    tmp_path = open_tmp
    argv = [*portable.command(), "--host", "127.0.0.1", "--root", str(tmp_path / "r"), "--data", str(tmp_path / "d"),
            "--http-port", "0", "--tcp-chat-port", "0", "--udp-chat-port", "0", "--file-port", "0"]
    for port in (6969, 5514):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                pytest.fail(f"port {port} is taken on this machine; the fallback cannot be shown")
    with subprocess.Popen(as_nobody(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          cwd=tmp_path, env=portable.env()) as proc:
        assert proc.stdout is not None
        banner = []
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Admin:"):
                break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    tftp_line = next(line for line in banner if line.startswith("  tftp"))
    assert ":6969" in tftp_line and "port 69 needs root" in tftp_line
    syslog_line = next(line for line in banner if line.startswith("  syslog"))
    assert ":5514" in syslog_line and "port 514 needs root; using 5514 instead" in syslog_line


def test_the_unprivileged_tests_skip_an_interpreter_nobody_cannot_start(open_tmp: Path) -> None:
    """A virtualenv under a 0700 folder is out of nobody's reach, another version will not load
    the copied extension modules: the next candidate is used."""
    wanted = "{}.{}".format(*sys.version_info[:2])
    other_version = open_tmp / "python-other"
    other_version.write_text("#!/bin/sh\necho 2.7\n")
    other_version.chmod(0o755)
    candidates = ["/nonexistent/python3", str(other_version)]
    if os.geteuid() == 0:  # as root the tests drop to nobody, who cannot reach into a 0700 folder
        hidden = open_tmp / "private"
        hidden.mkdir(mode=0o700)
        hidden.chmod(0o700)
        unreachable = hidden / "python"
        unreachable.write_text(f"#!/bin/sh\necho {wanted}\n")  # the right version, could nobody run it
        unreachable.chmod(0o755)
        candidates.insert(0, str(unreachable))
    assert runnable_python([*candidates, sys.executable]) == sys.executable
    with pytest.raises(AssertionError, match="that nobody can run"):
        runnable_python(candidates)
