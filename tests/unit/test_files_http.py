"""The file routes with names that are not UTF-8, bad input, and multi-file uploads (Flask's
test client over a real FileStore)."""

import io
import os
from pathlib import Path
from urllib.parse import unquote_to_bytes

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sockets_core.bus import Bus
from sockets_core.files import FileStore
from sockets_core.packetlog import PacketLog
from sockets_core.services import Endpoint, Services
from sockets_core.settings import Settings
from webapp import create_app

TOKEN = "unit-test-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
GBK_NAME = "你好.txt".encode("gbk")
LATIN1_NAME = "café.txt".encode("latin-1")
INVALID_NAME = b"\xff\xfe.bin"
GBK_FOLDER = "文件".encode("gbk")  # b"\xce\xc4\xbc\xfe" (chosen: "目录" in GBK happens to be valid UTF-8)


def raw_path(client: FlaskClient, method: str, url: str, **kwargs: object) -> TestResponse:
    """Send ``url`` with its path's percent-escapes decoded to bytes as a WSGI server does
    (PEP 3333: one char per byte); werkzeug's test client would decode them as UTF-8 with
    errors replaced, which no real server does."""
    path, _, query = url.partition("?")
    overrides = {"PATH_INFO": unquote_to_bytes(path).decode("latin-1")}
    return client.open(path, method=method, query_string=query or None,  # type: ignore[arg-type]
                       environ_overrides=overrides, **kwargs)


def write(root: Path, raw: bytes, data: bytes) -> None:
    with open(os.fsencode(root) + b"/" + raw, "wb") as f:
        f.write(data)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello")
    for raw in (GBK_NAME, LATIN1_NAME, INVALID_NAME):
        write(root, raw, b"content of " + raw)
    os.mkdir(os.fsencode(root) + b"/" + GBK_FOLDER)
    write(root, GBK_FOLDER + b"/" + INVALID_NAME, b"inner")
    return root


@pytest.fixture
def app(root: Path) -> Flask:
    bus = Bus()
    services = Services(Settings(root=root, disabled=frozenset({"tftp"})), bus, PacketLog(bus), FileStore(root))
    services.http = Endpoint("0.0.0.0", 8000)
    return create_app(services, TOKEN, ["192.168.1.20"], {"TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_listing_gives_every_name_readable_and_lossless(client: FlaskClient) -> None:
    response = client.get("/api/files")
    assert response.status_code == 200
    response.data.decode("utf-8")  # strict: no surrogate, no \udcxx escape reaches a browser
    entries = {e["display"]: e for e in response.get_json()["entries"]}
    assert set(entries) == {"hello.txt", "你好.txt", "caf\\xe9.txt", "\\xff\\xfe.bin", "文件"}
    assert entries["hello.txt"] | {"modified": 0} == {
        "name": "hello.txt", "path": "hello.txt", "display": "hello.txt", "encoding": "utf-8",
        "size": 5, "modified": 0, "type": "file"}
    assert entries["你好.txt"]["path"] == "~b64:xOO6wy50eHQ" and entries["你好.txt"]["encoding"] == "gbk"
    assert entries["\\xff\\xfe.bin"]["encoding"] == entries["caf\\xe9.txt"]["encoding"] == "escaped"
    folder = entries["文件"]
    assert folder["type"] == "dir" and folder["encoding"] == "gbk"
    inside = client.get("/api/files", query_string={"path": folder["path"]}).get_json()
    assert inside["crumbs"] == [{"name": folder["path"], "path": folder["path"], "display": "文件",
                                 "encoding": "gbk"}]
    assert [e["path"] for e in inside["entries"]] == [folder["path"] + "/~b64:__4uYmlu"]


@pytest.mark.parametrize("url, body", [
    ("/files/%C4%E3%BA%C3.txt", b"content of " + GBK_NAME),  # raw bytes percent-encoded: what curl sends
    ("/files/~b64:xOO6wy50eHQ", b"content of " + GBK_NAME),  # the wire form: what the page sends
    ("/files/~b64%3AxOO6wy50eHQ", b"content of " + GBK_NAME),
    ("/files/caf%E9.txt", b"content of " + LATIN1_NAME),
    ("/files/%FF%FE.bin", b"content of " + INVALID_NAME),
    ("/files/%CE%C4%BC%FE/%FF%FE.bin", b"inner"),
    ("/files/~b64:zsS8_g/~b64:__4uYmlu", b"inner"),
])
def test_downloads_by_raw_bytes_or_wire_form(client: FlaskClient, url: str, body: bytes) -> None:
    response = raw_path(client, "GET", url)
    assert response.status_code == 200 and response.data == body
    response.close()


def test_a_download_is_saved_under_its_readable_name(client: FlaskClient) -> None:
    gbk = raw_path(client, "GET", "/files/%C4%E3%BA%C3.txt")
    assert gbk.headers["Content-Disposition"].endswith("; filename*=UTF-8''%E4%BD%A0%E5%A5%BD.txt")
    gbk.close()
    invalid = raw_path(client, "GET", "/files/%FF%FE.bin")
    assert "%EF%BF%BD%EF%BF%BD.bin" in invalid.headers["Content-Disposition"]  # U+FFFD, never a backslash
    invalid.close()


def test_sha256_rename_and_delete_by_percent_encoded_or_wire_names(client: FlaskClient, root: Path) -> None:
    digest = client.get("/api/files/sha256?path=%FF%FE.bin").get_json()
    assert digest["path"] == "~b64:__4uYmlu" and len(digest["sha256"]) == 64
    renamed = client.post("/api/files/rename", json={"from": "~b64:xOO6wy50eHQ", "to": "你好.txt"}, headers=ADMIN)
    assert renamed.status_code == 200, renamed.get_json()
    assert (root / "你好.txt").read_bytes() == b"content of " + GBK_NAME
    deleted = raw_path(client, "DELETE", "/api/files/caf%E9.txt", headers=ADMIN)
    assert deleted.get_json() == {"deleted": "~b64:Y2Fm6S50eHQ"}
    assert client.delete("/api/files/~b64:__4uYmlu", headers=ADMIN).status_code == 200
    assert sorted(os.listdir(os.fsencode(root))) == sorted([b"hello.txt", "你好.txt".encode(), "文件".encode("gbk")])


@pytest.mark.parametrize("query", [b"path=\xff\xfe", b"path=ok&x=\xc4"])
def test_raw_bytes_in_the_query_get_400(client: FlaskClient, query: bytes) -> None:
    for url in ("/api/files", "/api/files/sha256", "/api/packets"):
        response = client.get(url, environ_overrides={"QUERY_STRING": query.decode("latin-1")})
        assert response.status_code == 400 and "percent-encode" in response.get_json()["error"]


@pytest.mark.parametrize("url, body", [
    ("/api/folders", {"path": 123}), ("/api/folders", ["x"]), ("/api/folders", {}),
    ("/api/files/rename", {"from": "hello.txt", "to": None}), ("/api/files/rename", {"from": ["hello.txt"], "to": "x"}),
    ("/api/files/rename", {"from": "~b64:***", "to": "x"}), ("/api/folders", '{"path": "a\\ud800"}'),
    ("/api/folders", b'{"path": "\xff"}'),
])
def test_wrong_json_types_and_bad_names_get_400(client: FlaskClient, url: str, body: object, root: Path) -> None:
    # a str or bytes body is sent as it is (a lone surrogate escape, bytes that are not UTF-8)
    raw = {"data": body} if isinstance(body, (str, bytes)) else {"json": body}
    response = client.post(url, headers=ADMIN, content_type="application/json", **raw)
    assert response.status_code == 400, response.get_json()
    assert (root / "hello.txt").exists()


@pytest.mark.parametrize("url", ["/files/missing.txt", "/api/files?path=missing", "/api/files/sha256?path=nope",
                                 "/api/files?path=hello.txt"])
def test_error_texts_name_the_relative_path_never_the_root(client: FlaskClient, root: Path, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert str(root) not in response.get_data(as_text=True)
    assert client.delete("/api/files/missing.txt", headers=ADMIN).status_code == 404
    collision = client.post("/api/files/rename", json={"from": "hello.txt", "to": "~b64:xOO6wy50eHQ"}, headers=ADMIN)
    assert collision.status_code == 409 and collision.get_json() == {"error": "'你好.txt' exists"}


def upload(client: FlaskClient, files: list[tuple[str, bytes]], query: str = "") -> tuple[int, dict]:  # type: ignore[type-arg]
    data = {"file": [(io.BytesIO(body), name) for name, body in files]}
    response = client.post(f"/api/files{query}", data=data, headers=ADMIN, content_type="multipart/form-data")
    return response.status_code, response.get_json()


def listing(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def test_a_multi_file_upload_with_one_refused_name_keeps_nothing_and_says_why_per_file(
        client: FlaskClient, root: Path) -> None:
    before = listing(root)
    status, body = upload(client, [("new-1.txt", b"one"), ("hello.txt", b"clash"), ("new-2.txt", b"two")])
    assert status == 409
    assert body["refused"] == [{"name": "hello.txt", "display": "hello.txt",
                                "error": "exists (send overwrite=1 to replace it)"}]
    assert "nothing was kept" in body["error"]
    assert listing(root) == before and (root / "hello.txt").read_bytes() == b"hello"
    status, body = upload(client, [("ok.txt", b"ok"), ("a\x01b.txt", b"bad"), ("ok.txt", b"twice")])
    assert status == 400, body
    assert [r["error"] for r in body["refused"]] == ["refused name: NUL or control character in name",
                                                     "given twice in this upload"]
    assert listing(root) == before
    status, body = upload(client, [("new-1.txt", b"one"), ("~b64:xOO6wy50eHQ", b"gbk by wire name")],
                          query="?overwrite=1")
    assert status == 201 and body == {"saved": ["new-1.txt", "~b64:xOO6wy50eHQ"]}
    with open(os.fsencode(root) + b"/" + GBK_NAME, "rb") as f:
        assert f.read() == b"gbk by wire name"
    assert not any(name.endswith(".sockdash-part") for name in listing(root))


def test_an_upload_whose_file_name_is_not_utf8_is_refused_with_the_way_to_send_it(
        client: FlaskClient, root: Path) -> None:
    body = (b'--XX\r\nContent-Disposition: form-data; name="file"; filename="' + GBK_NAME + b'"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\ndata\r\n--XX--\r\n")
    response = client.post("/api/files", data=body, headers=ADMIN, content_type="multipart/form-data; boundary=XX")
    assert response.status_code == 400 and "~b64:" in response.get_json()["error"]
    assert not any(name.endswith(b".sockdash-part") for name in os.listdir(os.fsencode(root)))
