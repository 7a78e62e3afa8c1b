"""WebSocket handshakes and requests against the real server: Origin decides (cross-site WebSocket
hijacking), and so does Host (DNS rebinding)."""

import json
import socket

import pytest

from tests import harness, wsclient


def handshake(sockdash: harness.Sockdash, origin: str | None, path: str = "/ws/status",
              host: str | None = None) -> wsclient.WsClient:
    return wsclient.connect("127.0.0.1", sockdash.ports["http"], path, origin=origin, host_header=host)


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null"])
def test_cross_origin_handshake_is_refused(sockdash: harness.Sockdash, origin: str) -> None:
    with handshake(sockdash, origin) as ws:
        assert ws.status == 403


@pytest.mark.parametrize("with_origin", [True, False])
def test_same_origin_or_originless_handshake_is_accepted_and_streams_status(
        sockdash: harness.Sockdash, with_origin: bool) -> None:
    origin = f"http://127.0.0.1:{sockdash.ports['http']}" if with_origin else None
    with handshake(sockdash, origin) as ws:
        assert ws.accepted
        message = json.loads(ws.receive() or "null")
        assert message["type"] == "status"
        assert message["status"]["services"]["tcp_chat"]["port"] == sockdash.ports["tcp_chat"]


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
    with handshake(sockdash, f"http://rebind.example:{port}", host=f"rebind.example:{port}") as ws:
        assert ws.status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"127.0.0.2:{port}"):
        assert http_get(port, host, "/api/status").startswith(b"HTTP/1.1 200"), host


def test_allowed_host_flag_lets_a_name_in_and_refusals_are_logged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    proc = harness.start(tmp_path, "--allowed-host", "dash.lan", "--log-level", "WARNING")
    try:
        port = proc.ports["http"]
        assert http_get(port, f"dash.lan:{port}", "/api/status").startswith(b"HTTP/1.1 200")
        with handshake(proc, f"http://dash.lan:{port}", host=f"dash.lan:{port}") as ws:
            assert ws.accepted
        for _ in range(20):
            assert http_get(port, "other.lan").startswith(b"HTTP/1.1 403")
        proc.wait_for(lambda: any("'other.lan'" in line for line in proc.output))
    finally:
        assert proc.stop() == 0
    refusals = [line for line in proc.output if "'other.lan'" in line]
    assert len(refusals) == 1 and "WARNING" in refusals[0] and "127.0.0.1" in refusals[0]
