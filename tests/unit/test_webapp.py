from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.harness import UNIT_TOKEN, make_app
from webapp.hints import advertised_host, hints

TOKEN = UNIT_TOKEN
WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    (tmp_path / "hello.txt").write_bytes(b"0123456789")
    return make_app(tmp_path, lan=["192.168.1.20"], disabled=frozenset({"tftp"}))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_status_has_every_service(client: FlaskClient) -> None:
    body = client.get("/api/status").get_json()
    assert body["version"] == "0.1.0" and "uptime_s" in body
    assert set(body["services"]) == {"http", "tcp_chat", "udp_chat", "file", "tftp", "syslog"}
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
    for name in ("http", "tcp_chat", "udp_chat", "file", "tftp", "syslog"):
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


# ---- security headers, the admin link, DNS rebinding (issue #10 item 7) ----------------------

def test_every_response_carries_the_security_headers(client: FlaskClient) -> None:
    for path in ("/", "/chat", "/files", "/packets", "/static/js/live.js", "/api/status", "/files/hello.txt"):
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("Referrer-Policy") == "no-referrer", path
        response.close()


def test_admin_link_keeps_other_query_arguments_and_is_not_cached(client: FlaskClient) -> None:
    response = client.get(f"/?next=files&token={TOKEN}&x=1")
    assert response.status_code == 303 and response.headers["Location"] == "/?next=files&x=1"
    assert response.headers["Cache-Control"] == "no-store"
    assert TOKEN not in response.headers["Location"]


def test_admin_link_compares_the_token_in_constant_time(client: FlaskClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("webapp.auth.hmac.compare_digest", spy)
    assert client.get(f"/?token={TOKEN}").status_code == 303
    assert (TOKEN.encode(), TOKEN.encode()) in compared


def test_wrong_admin_link_sets_nothing_says_so_and_logs_once(client: FlaskClient,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(5):
        response = client.get("/?token=not-the-token")
        assert response.status_code == 403 and "Set-Cookie" not in response.headers
        assert "wrong admin token" in response.get_data(as_text=True)
    assert client.get("/api/whoami").get_json() == {"admin": False}
    lines = [r for r in caplog.records if "wrong token" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING" and "127.0.0.1" in lines[0].getMessage()


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LOCALHOST.", "127.0.0.1:8000", "127.1.2.3",
                                  "[::1]:8000", "[::ffff:127.0.0.1]", "app.localhost:8000", "192.168.1.20:8000"])
def test_loopback_and_lan_hosts_are_answered(client: FlaskClient, host: str) -> None:
    assert client.get("/api/status", headers={"Host": host}).status_code == 200


def test_every_address_of_this_machine_is_answered(client: FlaskClient) -> None:
    from sockets_core.netinfo import local_addresses, url_host

    for address in local_addresses():
        assert client.get("/", headers={"Host": f"{url_host(address)}:8000"}).status_code == 200, address


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.99.99.99",
                                  "[fd00::99]:8000", "localhost.evil.example"])
def test_other_hosts_are_refused_naming_the_flag(client: FlaskClient, host: str) -> None:
    for path in ("/", "/api/status", "/static/js/live.js"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 403, path
        text = response.get_data(as_text=True)
        assert "--allowed-host" in text and "DNS rebinding" in text and text.count("\n") == 1
        assert response.mimetype == "text/plain"


def test_rebound_websocket_handshake_is_refused_even_with_a_matching_origin(client: FlaskClient) -> None:
    headers = {**WS_HEADERS, "Host": "evil.example:8000", "Origin": "http://evil.example:8000"}
    assert client.get("/ws/status", headers=headers).status_code == 403


def test_malformed_host_is_a_400(client: FlaskClient) -> None:
    for host in ("[::1", "localhost:port", "a b", "user@localhost"):
        response = client.get("/", headers={"Host": host})
        assert response.status_code == 400 and "malformed Host" in response.get_data(as_text=True), host


def test_refused_hosts_are_logged_throttled_with_peer_and_count(client: FlaskClient,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(50):
        client.get("/", headers={"Host": "evil.example"}, environ_overrides={"REMOTE_ADDR": "10.1.1.1"})
    client.get("/", headers={"Host": "evil.example"}, environ_overrides={"REMOTE_ADDR": "10.2.2.2"})
    lines = [r.getMessage() for r in caplog.records if "rebinding" in r.getMessage()]
    assert len(lines) == 2 and all(r.levelname == "WARNING" for r in caplog.records if "rebinding" in r.getMessage())
    assert "10.1.1.1" in lines[0] and "'evil.example'" in lines[0] and "--allowed-host" in lines[0]
    assert "10.2.2.2" in lines[1]


def test_allowed_host_flag_names_and_wildcard(tmp_path: Path) -> None:
    named = make_app(tmp_path, allowed_hosts=("dash.lan", "10.99.99.99")).test_client()
    assert named.get("/api/status", headers={"Host": "dash.lan:8000"}).status_code == 200
    assert named.get("/api/status", headers={"Host": "DASH.LAN."}).status_code == 200
    assert named.get("/api/status", headers={"Host": "10.99.99.99"}).status_code == 200
    assert named.get("/api/status", headers={"Host": "other.lan"}).status_code == 403
    anything = make_app(tmp_path, allowed_hosts=("*",)).test_client()
    assert anything.get("/api/status", headers={"Host": "whatever.example"}).status_code == 200


def test_the_bound_host_is_answered(tmp_path: Path) -> None:
    bound = make_app(tmp_path, host="sockdash-box").test_client()
    assert bound.get("/api/status", headers={"Host": "sockdash-box:8000"}).status_code == 200


def test_starting_a_service_on_a_port_in_use_is_a_clear_409(tmp_path: Path) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        app = make_app(tmp_path, host="127.0.0.1", tcp_chat_port=port)
        answer = app.test_client().post("/api/services/tcp_chat/start", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 409
        assert answer.get_json() == {"error": f"tcp_chat: port {port} in use"}
        assert app.test_client().get("/api/status").get_json()["services"]["tcp_chat"]["running"] is False
