"""Each service of the real process with real clients: bytes, counters and packet log."""

import hashlib
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests import harness
from tests.harness import chat_client, recv_until

HOST = "127.0.0.1"




def test_tcp_chat_relays_lines_and_course_style_gbk_without_newline(sockdash: harness.Sockdash) -> None:
    alice, bob = chat_client(sockdash, "alice"), chat_client(sockdash, "bob")
    course = socket.create_connection((HOST, sockdash.ports["tcp_chat"]), timeout=5)
    recv_until(course, b"/help")
    try:
        alice.sendall(b"hello bob\r\n")
        line = recv_until(bob, b"hello bob\n")
        assert b"#lobby <alice> hello bob\n" in line
        # the course script: send() GBK text with no newline, then block in recv(1024)
        course.send("你好，我是学生".encode("gbk"))
        got = recv_until(alice, "我是学生".encode())
        assert "你好，我是学生".encode() in got
        # and the GBK client gets the answer in GBK
        bob.sendall("收到\n".encode())
        assert "收到".encode("gbk") in recv_until(course, "收到".encode("gbk"))
    finally:
        for s in (alice, bob, course):
            s.close()


def test_tcp_chat_farewell_ends_the_session(sockdash: harness.Sockdash) -> None:
    s = chat_client(sockdash, "leaver")
    s.sendall(b"bye")
    data = recv_until(s, b"* bye\n")
    s.settimeout(5)
    assert s.recv(1024) == b"" and data.endswith(b"* bye\n")
    s.close()


def test_udp_and_tcp_chat_meet_in_the_lobby(sockdash: harness.Sockdash) -> None:
    tcp = chat_client(sockdash, "tcpuser")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto("来自UDP".encode("gbk"), (HOST, sockdash.ports["udp_chat"]))
        assert "来自UDP".encode() in recv_until(tcp, "来自UDP".encode())
        tcp.sendall(b"back to udp\n")
        data, _ = udp.recvfrom(1024)
        assert data.endswith(b"<tcpuser> back to udp\n")
        udp.sendto(b"bye", (HOST, sockdash.ports["udp_chat"]))
    tcp.close()


def test_file_download_with_the_course_client_and_netcat(sockdash: harness.Sockdash) -> None:
    payload = os.urandom(1 << 20)
    (sockdash.root / "blob.bin").write_bytes(payload)
    # seed 003's downloader: send the name, then recv(1024) until the server closes
    s = socket.create_connection((HOST, sockdash.ports["file"]), timeout=10)
    s.send(b"blob.bin")
    received = b""
    while True:
        chunk = s.recv(1024)
        if not chunk:
            break
        received += chunk
    s.close()
    assert received == payload
    nc = subprocess.run(f"printf blob.bin | nc {HOST} {sockdash.ports['file']}", shell=True,
                        capture_output=True, timeout=20)
    assert hashlib.sha256(nc.stdout).digest() == hashlib.sha256(payload).digest()


def test_file_download_of_a_missing_or_unsafe_name_closes_without_data(sockdash: harness.Sockdash) -> None:
    for name in (b"missing.bin", b"../../etc/passwd", "不存在.txt".encode("gbk")):
        s = socket.create_connection((HOST, sockdash.ports["file"]), timeout=5)
        s.send(name)
        assert s.recv(1024) == b""
        s.close()


@pytest.fixture
def sample(sockdash: harness.Sockdash) -> bytes:
    data = os.urandom(100_000) + b"\n\r\nend"
    (sockdash.root / "sample.bin").write_bytes(data)
    return data


def test_tftp_with_tftp_hpa_curl_and_atftp(sockdash: harness.Sockdash, sample: bytes, tmp_path: Path) -> None:
    port = sockdash.ports["tftp"]
    for tool in ("tftp", "curl", "atftp"):
        assert shutil.which(tool), f"{tool} is missing: run make test (tests/tools/ensure_peers.sh installs it)"
    commands = {
        "tftp-hpa": f"tftp {HOST} {port} -m binary -c get sample.bin {tmp_path}/a.bin",
        "curl": f"curl -s --tftp-blksize 1468 -o {tmp_path}/b.bin tftp://{HOST}:{port}/sample.bin",
        "atftp": f"atftp --option 'blksize 1024' -g -r sample.bin -l {tmp_path}/c.bin {HOST} {port}",
    }
    for command in commands.values():
        subprocess.run(command, shell=True, check=True, timeout=30, capture_output=True)
    for out in ("a.bin", "b.bin", "c.bin"):
        assert (tmp_path / out).read_bytes() == sample, out


def test_tftp_missing_file_is_reported_by_the_client(sockdash: harness.Sockdash, tmp_path: Path) -> None:
    result = subprocess.run(f"curl -s -o {tmp_path}/x tftp://{HOST}:{sockdash.ports['tftp']}/no-such-file",
                            shell=True, timeout=30, capture_output=True)
    assert result.returncode != 0  # curl: "TFTP: File Not Found" (exit 68)


def test_tftp_upload_is_refused_without_tftp_write(sockdash: harness.Sockdash, tmp_path: Path) -> None:
    (tmp_path / "up.txt").write_text("upload")
    result = subprocess.run(f"curl -s -T {tmp_path}/up.txt tftp://{HOST}:{sockdash.ports['tftp']}/up.txt",
                            shell=True, timeout=30, capture_output=True)
    assert result.returncode != 0 and not (sockdash.root / "up.txt").exists()


def test_counters_and_packet_log_follow_native_traffic(sockdash: harness.Sockdash) -> None:
    before = sockdash.status()["services"]["tcp_chat"]
    last_id = max([e["id"] for e in sockdash.get_json("/api/packets?limit=1")["events"]] or [0])
    s = chat_client(sockdash, "counter")
    s.sendall(b"twelve bytes\n")
    after = sockdash.wait_for(lambda: (a := sockdash.status()["services"]["tcp_chat"])["bytes_in"]
                              >= before["bytes_in"] + len(b"/nick counter\ntwelve bytes\n") and a)
    assert after["packets_in"] >= before["packets_in"] + 2
    assert after["clients"] == before["clients"] + 1
    s.close()
    events = sockdash.get_json(f"/api/packets?after={last_id}")["events"]
    mine = [e for e in events if e["service"] == "tcp_chat"]
    assert mine[0]["kind"] == "open"
    assert any(e["direction"] == "in" and bytes.fromhex(e["payload_hex"]) == b"twelve bytes\n" for e in mine)
    sockdash.wait_for(lambda: sockdash.status()["services"]["tcp_chat"]["clients"] == before["clients"])


def test_services_can_be_stopped_and_started_by_the_admin(fresh_sockdash: harness.Sockdash) -> None:
    url = f"{fresh_sockdash.base_url}/api/services/tcp_chat/stop"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=5)
    assert refused.value.code == 403
    refused.value.close()
    auth = {"Authorization": f"Bearer {fresh_sockdash.token}"}
    urllib.request.urlopen(urllib.request.Request(url, method="POST", headers=auth), timeout=5).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((HOST, fresh_sockdash.ports["tcp_chat"]), timeout=5)
    start = url.replace("/stop", "/start")
    urllib.request.urlopen(urllib.request.Request(start, method="POST", headers=auth), timeout=5).close()
    with socket.create_connection((HOST, fresh_sockdash.ports["tcp_chat"]), timeout=5) as s:
        assert b"welcome" in recv_until(s, b"/help")
