"""WebSocket handshakes and requests against the real server: Origin decides (cross-site WebSocket
hijacking), and so does Host (DNS rebinding)."""

import base64
import json
import os
import socket

import pytest

from tests import harness


def handshake(sockdash: harness.Sockdash, origin: str | None, path: str = "/ws/status",
              host: str | None = None) -> tuple[bytes, socket.socket]:
    s = socket.create_connection(("127.0.0.1", sockdash.ports["http"]), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    host = host or f"127.0.0.1:{sockdash.ports['http']}"
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return head, s


def read_frame(s: socket.socket, buffered: bytes) -> bytes:
    """The payload of the first (unmasked, server-to-client) frame; ``buffered`` came with the headers."""
    pending = bytearray(buffered)

    def exact(n: int) -> bytes:
        while len(pending) < n:
            chunk = s.recv(65536)
            assert chunk, "connection closed mid-frame"
            pending.extend(chunk)
        data = bytes(pending[:n])
        del pending[:n]
        return data

    first, second = exact(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(exact(2), "big")
    elif length == 127:
        length = int.from_bytes(exact(8), "big")
    return exact(length)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null"])
def test_cross_origin_handshake_is_refused(sockdash: harness.Sockdash, origin: str) -> None:
    head, s = handshake(sockdash, origin)
    s.close()
    assert head.startswith(b"HTTP/1.1 403")


@pytest.mark.parametrize("with_origin", [True, False])
def test_same_origin_or_originless_handshake_is_accepted_and_streams_status(
        sockdash: harness.Sockdash, with_origin: bool) -> None:
    origin = f"http://127.0.0.1:{sockdash.ports['http']}" if with_origin else None
    head, s = handshake(sockdash, origin)
    try:
        assert head.startswith(b"HTTP/1.1 101")
        message = json.loads(read_frame(s, head.split(b"\r\n\r\n", 1)[1]))
        assert message["type"] == "status"
        assert message["status"]["services"]["tcp_chat"]["port"] == sockdash.ports["tcp_chat"]
    finally:
        s.close()


def http_get(port: int, host: str, path: str = "/") -> bytes:
    """The whole answer to one GET with this Host header (the server closes: Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_rebound_name_is_refused_for_pages_and_websockets_even_with_its_own_origin(
        sockdash: harness.Sockdash) -> None:
    port = sockdash.ports["http"]
    answer = http_get(port, f"rebind.example:{port}")
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"--allowed-host rebind.example" in answer and b"DNS rebinding" in answer
    head, s = handshake(sockdash, f"http://rebind.example:{port}", host=f"rebind.example:{port}")
    s.close()
    assert head.startswith(b"HTTP/1.1 403")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"127.0.0.2:{port}"):
        assert http_get(port, host, "/api/status").startswith(b"HTTP/1.1 200"), host


def test_allowed_host_flag_lets_a_name_in_and_refusals_are_logged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = harness.start(tmp_path, "--allowed-host", "dash.lan", "--log-level", "WARNING")
    try:
        port = proc.ports["http"]
        assert http_get(port, f"dash.lan:{port}", "/api/status").startswith(b"HTTP/1.1 200")
        head, s = handshake(proc, f"http://dash.lan:{port}", host=f"dash.lan:{port}")
        s.close()
        assert head.startswith(b"HTTP/1.1 101")
        for _ in range(20):
            assert http_get(port, "other.lan").startswith(b"HTTP/1.1 403")
        proc.wait_for(lambda: any("'other.lan'" in line for line in proc.output))
    finally:
        assert proc.stop() == 0
    refusals = [line for line in proc.output if "'other.lan'" in line]
    assert len(refusals) == 1 and "WARNING" in refusals[0] and "127.0.0.1" in refusals[0]
