from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sockets_core.bus import Bus
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Endpoint, Services
from sockets_core.settings import Settings
from webapp import create_app
from webapp.hints import advertised_host, hints

TOKEN = "unit-test-token"
WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    (tmp_path / "hello.txt").write_bytes(b"0123456789")
    settings = Settings(root=tmp_path, disabled=frozenset({"tftp"}))
    bus = Bus()
    services = Services(settings, bus, PacketLog(bus), FileStore(tmp_path))
    services.http = Endpoint("0.0.0.0", 8000)
    return create_app(services, TOKEN, ["192.168.1.20"], {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_status_has_every_service(client: FlaskClient) -> None:
    body = client.get("/api/status").get_json()
    assert body["version"] == "0.1.0" and "uptime_s" in body
    assert set(body["services"]) == {"http", "tcp_chat", "udp_chat", "file", "tftp"}
    tftp = body["services"]["tftp"]
    assert tftp["running"] is False and tftp["disabled"] is True
    for key in ("host", "port", "clients", "bytes_in", "bytes_out", "packets_in", "packets_out"):
        assert key in body["services"]["tcp_chat"]


def test_admin_actions_need_the_token(client: FlaskClient) -> None:
    assert client.post("/api/services/tcp_chat/stop").status_code == 403
    assert client.post("/api/services/tcp_chat/stop", headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.post("/api/services/tcp_chat/stop", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.get_json()["running"] is False
    assert client.post("/api/services/tftp/start",
                       headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 409


def test_token_link_sets_an_httponly_cookie(client: FlaskClient) -> None:
    response = client.get(f"/?token={TOKEN}")
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/api/whoami").get_json() == {"admin": True}
    other = client.application.test_client()
    other.get("/?token=wrong")
    assert other.get("/api/whoami").get_json() == {"admin": False}


def test_foreign_origin_is_refused_for_state_changes_even_with_the_token(client: FlaskClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    foreign = client.post("/api/services/udp_chat/stop", headers={**auth, "Origin": "http://evil.example"})
    assert foreign.status_code == 403
    same = client.post("/api/services/udp_chat/stop", headers={**auth, "Origin": "http://localhost"})
    assert same.status_code == 200
    # a GET page view from anywhere is fine
    assert client.get("/", headers={"Origin": "http://evil.example"}).status_code == 200


def test_foreign_origin_websocket_handshake_is_refused(client: FlaskClient) -> None:
    response = client.get("/ws/status", headers={**WS_HEADERS, "Origin": "http://evil.example:8000"})
    assert response.status_code == 403


def test_download_refuses_traversal_and_supports_ranges(client: FlaskClient) -> None:
    for bad in ("/files/../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd", "/files/..%2f..%2fetc%2fpasswd",
                "/files/..%5c..%5cetc%5cpasswd"):
        assert client.get(bad).status_code in (400, 404), bad
    part = client.get("/files/hello.txt", headers={"Range": "bytes=3-"})
    assert part.status_code == 206 and part.data == b"3456789"
    assert "attachment" in part.headers["Content-Disposition"]
    part.close()


def test_home_page_shows_cards_with_lan_hints(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    for name in ("http", "tcp_chat", "udp_chat", "file", "tftp"):
        assert f'id="card-{name}"' in html
    assert "nc 192.168.1.20 8888" in html  # loopback visitors are shown the LAN address
    assert "tftp 192.168.1.20 69 -c get hello.txt" in html


def test_hints_use_the_host_the_browser_used() -> None:
    assert advertised_host("10.0.0.5", ["192.168.1.20"]) == "10.0.0.5"
    assert advertised_host("127.0.0.1", ["192.168.1.20"]) == "192.168.1.20"
    assert advertised_host("localhost", []) == "localhost"
    commands = [h["command"] for h in hints("tftp", "fd00::2", 69, "a.bin", 8000)]
    assert "curl -O tftp://[fd00::2]:69/a.bin" in commands


def test_api_errors_are_json(client: FlaskClient) -> None:
    response = client.get("/api/files?path=../..")
    assert response.status_code == 404 and "error" in response.get_json()
