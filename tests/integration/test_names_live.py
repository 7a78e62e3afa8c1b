"""Files named in GBK, Latin-1 and bytes that are neither, through the real process: listed,
downloaded over HTTP (curl), the TCP file server and TFTP (tftp-hpa, curl, a raw RRQ), and
every feed, export and the packet log file keep working after such a name went by."""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simple_websocket

from tests import harness

HOST = "127.0.0.1"
GBK_NAME = "你好.txt".encode("gbk")  # b"\xc4\xe3\xba\xc3.txt": a Windows zip unpacked on Linux
LATIN1_NAME = "café.txt".encode("latin-1")
INVALID_NAME = b"\xff\xfe.bin"
NAMES = {GBK_NAME: ("你好.txt", "gbk"), LATIN1_NAME: ("caf\\xe9.txt", "escaped"),
         INVALID_NAME: ("\\xff\\xfe.bin", "escaped")}


def content(raw: bytes) -> bytes:
    return b"the file named " + raw + b"\n" + bytes(range(256)) * 8  # 2 KiB+: several TFTP blocks


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[harness.Sockdash]:
    tmp = tmp_path_factory.mktemp("names")
    root = tmp / "root"
    root.mkdir()
    (root / "hello.txt").write_text("Hello from sockdash\n")
    (root / "说明.txt").write_text("stored in UTF-8\n")
    for raw in NAMES:
        with open(os.fsencode(root) + b"/" + raw, "wb") as f:
            f.write(content(raw))
    sockdash = harness.start(tmp, "--packet-log-file", str(tmp / "packets.jsonl"))
    yield sockdash
    sockdash.stop()


def get(proc: harness.Sockdash, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(proc.base_url + path, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def tftp_rrq(proc: harness.Sockdash, raw_name: bytes) -> bytes:
    """A plain RFC 1350 download that sends the name's bytes exactly as given."""
    data = b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(b"\x00\x01" + raw_name + b"\x00octet\x00", (HOST, proc.ports["tftp"]))
        for _ in range(1000):
            packet, server = s.recvfrom(65536)
            assert packet[:2] == b"\x00\x03", packet
            data += packet[4:]
            s.sendto(b"\x00\x04" + packet[2:4], server)
            if len(packet) - 4 < 512:
                return data
    raise AssertionError("transfer did not end")


def test_the_listing_shows_every_name_readable_with_its_encoding(proc: harness.Sockdash) -> None:
    status, body = get(proc, "/api/files")
    assert status == 200
    text = body.decode("utf-8")  # strict: valid UTF-8 all through
    assert "\\udc" not in text  # no escaped lone surrogate for a browser to choke on
    entries = {e["display"]: e for e in json.loads(text)["entries"]}
    assert {"hello.txt", "说明.txt"} <= set(entries)
    for shown, encoding in NAMES.values():
        assert entries[shown]["encoding"] == encoding
        assert entries[shown]["path"].startswith("~b64:")


@pytest.mark.parametrize("raw", list(NAMES))
def test_curl_downloads_by_percent_encoded_bytes_and_by_the_listed_path(
        proc: harness.Sockdash, tmp_path: Path, raw: bytes) -> None:
    listed = {e["display"]: e["path"] for e in json.loads(get(proc, "/api/files")[1])["entries"]}
    percent = "".join(f"%{b:02X}" for b in raw)
    for i, url_path in enumerate((percent, urllib.request.quote(listed[NAMES[raw][0]]))):
        out = tmp_path / f"out{i}"
        subprocess.run(["curl", "-sSf", "-o", str(out), f"{proc.base_url}/files/{url_path}"],
                       check=True, timeout=30, capture_output=True)
        assert out.read_bytes() == content(raw)


@pytest.mark.parametrize("raw", list(NAMES))
def test_the_tcp_file_server_serves_the_exact_bytes_named(proc: harness.Sockdash, raw: bytes) -> None:
    with socket.create_connection((HOST, proc.ports["file"]), timeout=5) as s:
        s.sendall(raw)  # the course's clients send the name without a newline
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    assert received == content(raw)


def test_a_gbk_request_gets_the_file_stored_in_utf8(proc: harness.Sockdash) -> None:
    with socket.create_connection((HOST, proc.ports["file"]), timeout=5) as s:
        s.sendall("说明.txt".encode("gbk") + b"\r\n")  # a Windows course script's encode('gbk')
        assert s.recv(1024) == b"stored in UTF-8\n"
    assert tftp_rrq(proc, "说明.txt".encode("gbk")) == b"stored in UTF-8\n"


@pytest.mark.parametrize("raw", list(NAMES))
def test_tftp_hpa_curl_and_a_raw_rrq_download_such_names(proc: harness.Sockdash, tmp_path: Path, raw: bytes) -> None:
    out = tmp_path / "by-tftp-hpa"
    result = subprocess.run([b"tftp", HOST.encode(), str(proc.ports["tftp"]).encode(), b"-m", b"binary",
                             b"-c", b"get", raw, os.fsencode(out)], check=False, timeout=30, capture_output=True)
    assert out.read_bytes() == content(raw), result.stdout + result.stderr
    by_curl = tmp_path / "by-curl"
    url = f"tftp://{HOST}:{proc.ports['tftp']}/" + "".join(f"%{b:02X}" for b in raw)
    subprocess.run(["curl", "-sSf", "-o", str(by_curl), url], check=True, timeout=30, capture_output=True)
    assert by_curl.read_bytes() == content(raw)
    assert tftp_rrq(proc, raw) == content(raw)


def ws_messages(proc: harness.Sockdash, path: str, wanted: Any, timeout: float = 5.0) -> list[dict]:  # type: ignore[type-arg]
    """Messages of a feed until ``wanted(messages)`` holds; the feed must stay open meanwhile."""
    ws = simple_websocket.Client.connect(f"ws://{HOST}:{proc.ports['http']}{path}")
    messages: list[dict] = []  # type: ignore[type-arg]
    try:
        deadline = time.monotonic() + timeout
        while not wanted(messages):
            left = deadline - time.monotonic()
            assert left > 0, f"{path}: not within {timeout} s: {messages}"
            text = ws.receive(timeout=left)
            if text is not None:
                messages.append(json.loads(text))
        return messages
    finally:
        ws.close()


def test_ws_files_and_ws_packets_connect_and_keep_working(proc: harness.Sockdash) -> None:
    for raw in NAMES:
        tftp_rrq(proc, raw)
    files = ws_messages(proc, "/ws/files", lambda m: m and m[0]["type"] == "transfers")
    shown = {t["file"] for t in files[0]["transfers"]}
    assert {"你好.txt", "\\xff\\xfe.bin", "caf\\xe9.txt"} <= shown

    def rrq_summaries(messages: list[dict]) -> set[str]:  # type: ignore[type-arg]
        return {e["summary"] for m in messages if m["type"] == "packets" for e in m["events"]}

    first = ws_messages(proc, "/ws/packets", lambda m: any(x["type"] == "packets" for x in m))
    assert {"RRQ 你好.txt octet", "RRQ \\xff\\xfe.bin octet"} <= rrq_summaries(first)
    # and it keeps streaming: a request after connecting arrives too
    ws = simple_websocket.Client.connect(f"ws://{HOST}:{proc.ports['http']}/ws/packets")
    try:
        ws.receive(timeout=5)  # the recent past
        tftp_rrq(proc, LATIN1_NAME)
        later: list[dict] = []  # type: ignore[type-arg]
        deadline = time.monotonic() + 5
        while "RRQ caf\\xe9.txt octet" not in rrq_summaries(later):
            assert time.monotonic() < deadline, later
            text = ws.receive(timeout=1)
            if text is not None:
                later.append(json.loads(text))
    finally:
        ws.close()


def test_the_jsonl_export_is_complete_and_the_log_file_keeps_getting_lines(proc: harness.Sockdash) -> None:
    for raw in NAMES:
        tftp_rrq(proc, raw)
    with socket.create_connection((HOST, proc.ports["file"]), timeout=5) as s:
        s.sendall(b"hello.txt")  # an event after them, to find in the file
        while s.recv(65536):
            pass
    newest = proc.wait_for(lambda: (e := json.loads(get(proc, "/api/packets?limit=1")[1])["events"])
                           and e[0]["service"] == "file" and e[0]["kind"] == "close" and e[0]["id"])
    events = json.loads(get(proc, "/api/packets?limit=10000")[1])["events"]
    status, body = get(proc, "/api/packets.jsonl")
    lines = [json.loads(line) for line in body.decode("utf-8").splitlines()]  # every line whole
    assert status == 200 and {e["id"] for e in events} <= {e["id"] for e in lines}
    assert {"RRQ 你好.txt octet", "RRQ caf\\xe9.txt octet"} <= {e["summary"] for e in lines}
    log_file = proc.root.parent / "packets.jsonl"

    def written_ids() -> set[int]:
        return {json.loads(line).get("id") for line in log_file.read_bytes().decode("utf-8").splitlines()}

    proc.wait_for(lambda: newest in written_ids())
    assert {e["id"] for e in events} <= written_ids()  # nothing skipped on the way


def raw_http(proc: harness.Sockdash, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection((HOST, proc.ports["http"]), timeout=5) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[1]


def test_bad_input_gets_400_and_errors_never_show_the_root(proc: harness.Sockdash) -> None:
    head = f"Host: {HOST}:{proc.ports['http']}\r\nConnection: close\r\n".encode()
    status, body = raw_http(proc, b"GET /api/files/sha256?path=\xff\xfe HTTP/1.1\r\n" + head + b"\r\n")
    assert status == 400 and b"percent-encode" in body
    payload = b'{"path": 123}'
    status, body = raw_http(proc, b"POST /api/folders HTTP/1.1\r\n" + head
                            + f"Authorization: Bearer {proc.token}\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
    assert status == 400 and b"must be a string" in body
    for path in ("/files/%FF-missing.bin", "/api/files/sha256?path=missing.txt", "/api/files?path=hello.txt"):
        status, body = get(proc, path)
        assert status == 404 and str(proc.root).encode() not in body
    status, body = get(proc, "/files/%FF-missing.bin")
    assert "\\xff-missing.bin" in body.decode("utf-8")  # the name as asked, readable


def test_a_multi_file_upload_with_one_taken_name_keeps_nothing(proc: harness.Sockdash) -> None:
    boundary = "namesboundary"
    parts = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + b"data\r\n"
                     for name in ("fresh-1.txt", "hello.txt", "fresh-2.txt"))
    body = parts + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"{proc.base_url}/api/files", data=body, method="POST", headers={
        "Authorization": f"Bearer {proc.token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    with caught.value as refused:
        assert refused.code == 409
        assert [r["name"] for r in json.load(refused)["refused"]] == ["hello.txt"]
    assert not (proc.root / "fresh-1.txt").exists() and not (proc.root / "fresh-2.txt").exists()
    assert not any(p.name.endswith(".sockdash-part") for p in proc.root.iterdir())
