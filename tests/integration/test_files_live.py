"""Files through every path of the real process: the course downloaders, netcat, curl, HTTP API."""

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import harness

HOST = "127.0.0.1"
SCRIPTS = Path(__file__).parent / "course_scripts"


def run_course_script(script: str, sockdash: harness.Sockdash, cwd: Path, typed: str,
                      ip: str, port: str) -> subprocess.CompletedProcess[bytes]:
    """Run a course script with only its server IP and port changed; ``typed`` answers input()."""
    source = (SCRIPTS / script).read_text(encoding="utf-8")
    assert ip in source and port in source
    source = source.replace(ip, HOST).replace(port, str(sockdash.ports["file"]))
    (cwd / script).write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, script], cwd=cwd, input=(typed + "\n").encode("utf-8"),
                          capture_output=True, timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})


def test_seed003_downloader_fetches_5_mib_byte_exact(sockdash: harness.Sockdash, tmp_path: Path) -> None:
    payload = os.urandom(5 << 20)
    (sockdash.root / "five.bin").write_bytes(payload)
    desktop = tmp_path / "C:" / "Users" / "haoli" / "Desktop"
    desktop.mkdir(parents=True)
    result = run_course_script("seed003_file_client.py", sockdash, tmp_path, "five.bin", "192.168.145.1", "8080")
    assert result.returncode == 0, result.stderr
    assert hashlib.sha256((desktop / "five.bin").read_bytes()).digest() == hashlib.sha256(payload).digest()


def test_seed000_downloader_gets_the_first_1024_bytes_and_a_gbk_named_file_whole(
        sockdash: harness.Sockdash, tmp_path: Path) -> None:
    payload = os.urandom(5 << 20)
    (sockdash.root / "big.bin").write_bytes(payload)
    result = run_course_script("seed000_file_client.py", sockdash, tmp_path, "big.bin", "192.168.159.1", "8080")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "new_big.bin").read_bytes() == payload[:1024]
    text = "测试文件：交换机配置\n".encode() * 20  # 600 bytes, one recv(1024)
    (sockdash.root / "测试文件.txt").write_bytes(text)
    result = run_course_script("seed000_file_client.py", sockdash, tmp_path, "测试文件.txt", "192.168.159.1", "8080")
    assert "接收完毕" in result.stdout.decode("utf-8"), result.stderr
    assert (tmp_path / "new_测试文件.txt").read_bytes() == text


@pytest.mark.parametrize("name", [b"../../../../etc/passwd", b"/etc/passwd", b"..\\..\\etc\\passwd",
                                  b"C:\\Windows\\win.ini", b"sub/../../x", b"\x00passwd", b"missing.bin", b"."])
def test_tcp_download_refuses_unsafe_or_missing_names_with_no_data(sockdash: harness.Sockdash, name: bytes) -> None:
    with socket.create_connection((HOST, sockdash.ports["file"]), timeout=5) as s:
        s.sendall(name + b"\r\n")
        assert s.recv(1024) == b""


@pytest.mark.parametrize("path", ["/files/../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd",
                                  "/files/..%2f..%2f..%2fetc%2fpasswd", "/files/..%5c..%5cetc%5cpasswd",
                                  "/files/%2fetc%2fpasswd", "/files//etc/passwd", "/files/C:%5cWindows"])
def test_http_download_refuses_traversal(sockdash: harness.Sockdash, path: str) -> None:
    with socket.create_connection((HOST, sockdash.ports["http"]), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    status = int(response.split(b" ", 2)[1])
    assert status in (400, 404), response[:200]
    assert b"root:x:0:0" not in response


def test_curl_resumes_a_partial_download(sockdash: harness.Sockdash, tmp_path: Path) -> None:
    payload = os.urandom(3 << 20)
    (sockdash.root / "resume.bin").write_bytes(payload)
    out = tmp_path / "resume.bin"
    out.write_bytes(payload[:1_000_000])  # an interrupted earlier download
    url = f"{sockdash.base_url}/files/resume.bin"
    result = subprocess.run(["curl", "-sS", "-C", "-", "-o", str(out), "-D", str(tmp_path / "headers"), url],
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == payload
    headers = (tmp_path / "headers").read_text()
    assert headers.startswith("HTTP/1.1 206") and "Content-Range: bytes 1000000-" in headers
    assert 'attachment; filename=resume.bin' in headers


def api(sockdash: harness.Sockdash, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(sockdash.base_url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "sockdashboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_upload_api_needs_the_admin_token(sockdash: harness.Sockdash) -> None:
    body, ctype = multipart("nope.txt", b"x")
    assert api(sockdash, "POST", "/api/files", body, {"Content-Type": ctype})[0] == 403
    assert api(sockdash, "DELETE", "/api/files/hello.txt")[0] == 403
    assert api(sockdash, "POST", "/api/folders", b'{"path": "x"}', {"Content-Type": "application/json"})[0] == 403
    assert not (sockdash.root / "nope.txt").exists() and not (sockdash.root / "x").exists()


def test_upload_rename_and_delete_as_admin(sockdash: harness.Sockdash) -> None:
    auth = {"Authorization": f"Bearer {sockdash.token}"}
    data = os.urandom(300_000)
    body, ctype = multipart("up.bin", data)
    status, reply = api(sockdash, "POST", "/api/files?path=inbox", body, {**auth, "Content-Type": ctype})
    assert status == 201 and reply == {"saved": ["inbox/up.bin"]}
    assert (sockdash.root / "inbox" / "up.bin").read_bytes() == data
    assert api(sockdash, "POST", "/api/files?path=inbox", body, {**auth, "Content-Type": ctype})[0] == 409
    status, reply = api(sockdash, "GET", "/api/files/sha256?path=inbox/up.bin")
    assert reply["sha256"] == hashlib.sha256(data).hexdigest()
    rename = json.dumps({"from": "inbox/up.bin", "to": "inbox/renamed.bin"}).encode()
    assert api(sockdash, "POST", "/api/files/rename", rename, {**auth, "Content-Type": "application/json"})[0] == 200
    assert api(sockdash, "DELETE", "/api/files/inbox", None, auth)[0] == 200
    assert not (sockdash.root / "inbox").exists()
    bad, ctype = multipart("../escape.txt", b"x")
    assert api(sockdash, "POST", "/api/files", bad, {**auth, "Content-Type": ctype})[0] == 400
    assert not (sockdash.root.parent / "escape.txt").exists()
    leftovers = [p for p in sockdash.root.rglob("*") if p.name.endswith(".sockdash-part")]
    assert leftovers == []


def test_interrupted_upload_leaves_nothing(sockdash: harness.Sockdash) -> None:
    head = (b'--XX\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    declared = len(head) + 4_000_000 + 10
    with socket.create_connection((HOST, sockdash.ports["http"]), timeout=5) as s:
        s.sendall(f"POST /api/files HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {sockdash.token}\r\n"
                  f"Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {declared}\r\n\r\n".encode()
                  + head + os.urandom(1_000_000))
        sockdash.wait_for(lambda: any(p.name.endswith(".sockdash-part") for p in sockdash.root.iterdir()))
    sockdash.wait_for(lambda: not any(p.name.endswith(".sockdash-part") for p in sockdash.root.rglob("*")))
    assert not (sockdash.root / "cut.bin").exists()
    transfers = api(sockdash, "GET", "/api/transfers")[1]["transfers"]
    cut = [t for t in transfers if t["file"] == "cut.bin"]
    assert cut and cut[0]["result"] not in (None, "ok")


def test_upload_over_the_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    proc = harness.start(tmp_path, "--max-upload", "64K")
    try:
        body, ctype = multipart("big.bin", os.urandom(2 << 20))
        status, reply = api(proc, "POST", "/api/files", body,
                            {"Authorization": f"Bearer {proc.token}", "Content-Type": ctype})
        assert status == 413 and "limit" in reply["error"]
        # just over the limit: within the request's framing allowance, refused by its own size
        body, ctype = multipart("edge.bin", os.urandom(64 * 1024 + 10))
        status, reply = api(proc, "POST", "/api/files", body,
                            {"Authorization": f"Bearer {proc.token}", "Content-Type": ctype})
        assert status == 413, reply
        assert sorted(p.name for p in proc.root.iterdir()) == ["hello.txt"]
    finally:
        proc.stop()


def test_tftp_upload_tcp_and_http_downloads_appear_in_the_transfer_list(tmp_path: Path) -> None:
    proc = harness.start(tmp_path, "--tftp-write")
    try:
        local = tmp_path / "config.txt"
        local.write_bytes(os.urandom(70_000))
        subprocess.run(["tftp", HOST, str(proc.ports["tftp"]), "-m", "binary", "-c", "put", str(local), "config.txt"],
                       check=True, timeout=30, capture_output=True)
        assert (proc.root / "config.txt").read_bytes() == local.read_bytes()
        subprocess.run(f"printf config.txt | nc {HOST} {proc.ports['file']} > /dev/null", shell=True, timeout=30)
        with urllib.request.urlopen(f"{proc.base_url}/files/config.txt", timeout=10) as response:
            assert len(response.read()) == 70_000  # read it all: closing early is a cancelled download
        transfers = proc.wait_for(lambda: (t := api(proc, "GET", "/api/transfers")[1]["transfers"])
                                  and len(t) >= 3 and all(x["result"] for x in t) and t)
        kinds = {(t["kind"], t["direction"], t["file"], t["result"], t["bytes"]) for t in transfers}
        assert ("tftp", "upload", "config.txt", "ok", 70_000) in kinds
        assert ("tcp", "download", "config.txt", "ok", 70_000) in kinds
        assert ("http", "download", "config.txt", "ok", 70_000) in kinds
        assert all(re.match(r"127\.0\.0\.1:\d+$", t["peer"]) for t in transfers)
    finally:
        proc.stop()


def test_tftp_upload_refused_when_it_would_overwrite(tmp_path: Path) -> None:
    proc = harness.start(tmp_path, "--tftp-write")
    try:
        local = tmp_path / "x.txt"
        local.write_text("new")
        result = subprocess.run(["tftp", HOST, str(proc.ports["tftp"]), "-m", "binary", "-c", "put", str(local),
                                 "hello.txt"], timeout=30, capture_output=True, text=True)
        # ERROR 6, "file already exists"; the text is cut to the size of the request (no amplification)
        assert "error code 6" in (result.stdout + result.stderr).lower()
        assert (proc.root / "hello.txt").read_text().startswith("Hello from sockdash")
        # the refusal is recorded once the server is done with the request (and its part file, if any)
        proc.wait_for(lambda: [t for t in api(proc, "GET", "/api/transfers")[1]["transfers"]
                               if t["file"] == "hello.txt" and t["direction"] == "upload" and t["result"]],
                      what="the refused upload recorded")
        assert not any(p.name.endswith(".sockdash-part") for p in proc.root.iterdir())
    finally:
        proc.stop()
