"""Start the real `sockdash` process on free ports with a temporary root and data dir."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BANNER_LINE = re.compile(r"^  (http|tcp_chat|udp_chat|file|tftp|syslog)\s+(tcp|udp) (\S+):(\d+)")
ALL_PORTS_ZERO = ["--http-port", "0", "--tcp-chat-port", "0", "--udp-chat-port", "0",
                  "--file-port", "0", "--tftp-port", "0", "--syslog-port", "0"]
ADMIN_TOKEN = "test-admin-token-0123"
START_TIMEOUT = 20.0


@dataclass
class Sockdash:
    proc: subprocess.Popen[str]
    root: Path
    data: Path
    ports: dict[str, int]
    banner: list[str]
    token: str = ADMIN_TOKEN
    host: str = "127.0.0.1"
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.ports['http']}"

    def get_json(self, path: str, headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(self.base_url + path, headers=headers or {})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def status(self) -> dict[str, Any]:
        return self.get_json("/api/status")  # type: ignore[no-any-return]

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition",
                 interval: float = 0.05) -> T:
        return wait_for(predicate, timeout, what, interval)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        if self.reader is not None:
            self.reader.join(2)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, what: str = "condition", interval: float = 0.02,
             sleep: Callable[[float], object] = time.sleep) -> T:
    """Poll ``predicate`` until it returns something true (returned) or ``timeout`` passes
    (AssertionError naming ``what`` and the last value). Tests wait on a condition this way,
    never on a guessed sleep. In-process gevent tests pass ``sleep=gevent.sleep`` so that the
    greenlets they wait for run meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout} s (last: {value!r})")
        sleep(interval)


def transfers(proc: Sockdash, **match: Any) -> list[dict[str, Any]]:
    """The transfer records of /api/transfers whose fields equal ``match`` (file=..., status="ok")."""
    return [t for t in proc.get_json("/api/transfers")["transfers"]
            if all(t.get(k) == v for k, v in match.items())]


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def tftp_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether a TFTP server answers on ``port``: an RRQ for a file nobody has gets an ERROR."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(timeout)
        probe.sendto(b"\x00\x01sockdash-probe-no-such-file\x00octet\x00", (host, port))
        try:
            answer = probe.recv(600)
        except (TimeoutError, ConnectionRefusedError):
            return False
        return answer[:2] == b"\x00\x05"


@contextmanager
def tftpd_hpa(root: Path, host: str = "127.0.0.1", timeout: float = 5.0) -> Iterator[int]:
    """tftpd-hpa (in.tftpd) serving ``root`` (uploads allowed) on a free port, once it answers;
    yields the port and stops it afterwards."""
    binary = shutil.which("in.tftpd") or "/usr/sbin/in.tftpd"
    assert Path(binary).exists(), "tftpd-hpa is missing: run make test (tests/tools/ensure_peers.sh installs it)"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o777)  # tftpd-hpa drops to its own user before writing uploads
    port = free_udp_port(host)
    proc = subprocess.Popen([binary, "-L", "-s", "-c", "-a", f"{host}:{port}", str(root)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is not None or tftp_answers(host, port), timeout, f"tftpd-hpa on port {port}")
        assert proc.poll() is None, f"tftpd-hpa exited with {proc.returncode} (port {port} taken?)"
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def command() -> list[str]:
    return [sys.executable, "-m", "webapp"]


def start(tmp: Path, *args: str, host: str = "127.0.0.1", ports: list[str] | None = None,
          env: dict[str, str] | None = None, prefix: list[str] | None = None) -> Sockdash:
    """``prefix`` goes before the command, e.g. ``["prlimit", "--nofile=1024:1024", "--"]``."""
    root, data = tmp / "root", tmp / "data"
    argv = [*(prefix or []), *command(), "--host", host, "--root", str(root), "--data", str(data),
            "--admin-token", ADMIN_TOKEN, *(ALL_PORTS_ZERO if ports is None else ports), *args]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    found: dict[str, int] = {}
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            match = BANNER_LINE.match(line)
            if match:
                found[match.group(1)] = int(match.group(4))
            if line.startswith("Admin:"):
                done.set()
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    if not done.wait(START_TIMEOUT) or "http" not in found:
        # Which of the two it was: a process that exited (a port in use, a bad flag) or one that
        # was still starting after START_TIMEOUT (a machine too loaded, a hang).
        code = proc.poll()
        why = (f"exited with status {code}" if code is not None
               else f"no banner within {time.monotonic() - started:.1f} s (still running)")
        proc.kill()
        proc.wait(5)
        reader.join(2)
        if proc.stdout is not None:
            proc.stdout.close()
        raise RuntimeError(f"sockdash did not start ({why}):\n" + "\n".join(lines))
    banner = [line for line in lines if BANNER_LINE.match(line) or line.startswith(("Dashboard:", "Admin:"))]
    return Sockdash(proc, root, data, found, banner, host=host if ":" not in host else "127.0.0.1",
                    output=lines, reader=reader)


def run_to_exit(tmp: Path, *args: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
    """Run sockdash expecting it to exit by itself (bad flags, ports in use)."""
    return subprocess.run([*command(), "--root", str(tmp / "root"), "--data", str(tmp / "data"), *args],
                          capture_output=True, text=True, timeout=timeout)


def recv_until(sock: socket.socket, needle: bytes, timeout: float = 5.0) -> bytes:
    """Read until ``needle`` has arrived; AssertionError (with the tail read) on timeout or close."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while needle not in data:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not received; got {data[-300:]!r}")
        chunk = sock.recv(4096)
        if not chunk:
            raise AssertionError(f"connection closed before {needle!r}; got {data[-300:]!r}")
        data += chunk
    return data


UNIT_TOKEN = "unit-test-token"


def make_services(tmp_path: Path, **overrides: Any) -> Any:
    """In-process Services on free loopback ports (0) serving ``tmp_path``; start them yourself."""
    from sockets_core.bus import Bus
    from sockets_core.files import FileStore
    from sockets_core.packetlog import PacketLog
    from sockets_core.services import Services
    from sockets_core.settings import SERVICES, Settings

    ports = {f"{name}_port": 0 for name in ("http", *SERVICES)}
    bus = Bus()
    settings = Settings(**{"host": "127.0.0.1", **ports, "root": tmp_path, **overrides})
    return Services(settings, bus, PacketLog(bus), FileStore(tmp_path))


def make_app(tmp_path: Path, lan: list[str] | None = None, **settings: Any) -> Any:
    """The Flask app over in-process Services that listen nowhere (``services.http`` is a
    stand-in endpoint): for unit tests through Flask's test client."""
    from sockets_core.bus import Bus
    from sockets_core.files import FileStore
    from sockets_core.packetlog import PacketLog
    from sockets_core.services import Endpoint, Services
    from sockets_core.settings import Settings
    from webapp import create_app

    bus = Bus()
    services = Services(Settings(root=tmp_path, **settings), bus, PacketLog(bus), FileStore(tmp_path))
    services.http = Endpoint("0.0.0.0", 8000)
    return create_app(services, UNIT_TOKEN, lan or [], {"TESTING": True})


def pcap_records(data: bytes) -> list[tuple[bytes, int]]:
    """The (frame, original length) records of a classic pcap file of raw IP frames."""
    from sockets_core.pcap import LINKTYPE_RAW

    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and linktype == LINKTYPE_RAW
    out, offset = [], 24
    while offset < len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[offset:offset + 16])
        out.append((data[offset + 16:offset + 16 + incl], orig))
        offset += 16 + incl
    return out


def pcap_tcp_fields(frame: bytes) -> tuple[int, int, int, bytes]:
    """(seq, ack, flags, payload) of an IPv4 TCP frame."""
    ihl = (frame[0] & 0x0F) * 4
    seq, ack, _, flags = struct.unpack("!IIBB", frame[ihl + 4:ihl + 14])
    return seq, ack, flags, frame[ihl + 20:]


HALF_OPEN_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # and never the blank line


def open_many(port: int, count: int, first_bytes: bytes = b"", within: float = 20.0,
              require_all: bool = True, host: str = "127.0.0.1") -> list[socket.socket]:
    """Open ``count`` connections at once (non-blocking connects) and send ``first_bytes`` on each.

    Returns every socket; the caller closes them. Raises if not all connected ``within`` s,
    unless ``require_all`` is false (the benchmark measures servers that stop accepting).
    """
    selector = selectors.DefaultSelector()
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setblocking(False)
            sock.connect_ex((host, port))
            selector.register(sock, selectors.EVENT_WRITE)
        connected = 0
        deadline = time.monotonic() + within
        while connected < count and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj  # type: ignore[assignment]
                selector.unregister(sock)
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                if first_bytes:
                    sock.send(first_bytes)
                connected += 1
        assert connected == count or not require_all, f"only {connected} of {count} connections were established"
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    finally:
        selector.close()
    return sockets


class FakeWebSocket:
    """Stands in for a flask-sock WebSocket when a session is driven directly (no socket):
    the JSON frames it was sent, in order."""

    connected = True

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, text: str) -> None:
        self.frames.append(json.loads(text))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == kind]


def chat_client(sockdash: Sockdash, nick: str) -> socket.socket:
    """A TCP chat client (as nc) past the greeting, with its nick."""
    s = socket.create_connection((sockdash.host, sockdash.ports["tcp_chat"]), timeout=5)
    recv_until(s, b"/help")
    s.sendall(f"/nick {nick}\n".encode())
    recv_until(s, f"you are now {nick}".encode())
    return s
