"""Auto-responses on the built-in chat services, set through the admin API."""

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

from tests import harness
from tests.harness import chat_client, recv_until

HOST = "127.0.0.1"


def put_rules(proc: harness.Sockdash, service: str, rules: object, token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{proc.base_url}/api/autoreply/{service}", method="PUT",
                                     data=json.dumps(rules).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def test_the_course_udp_client_gets_its_shou_dao(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    try:
        assert put_rules(proc, "udp_chat", [{"match": "any", "reply": "收到"}], None) == 403
        assert put_rules(proc, "udp_chat", [{"match": "regex", "pattern": "(", "reply": "x"}], proc.token) == 400
        assert put_rules(proc, "udp_chat", [{"match": "any", "reply": "收到"}], proc.token) == 200
        # seed 002's UDP client, but for the address: send, then print one recv(1024)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(b"hello", (HOST, proc.ports["udp_chat"]))
        assert s.recv(1024).decode("utf-8") == "收到"
        s.close()
    finally:
        proc.stop()
    again = harness.start(tmp_path)  # the rules are kept in the data dir
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto("你好".encode("gbk"), (HOST, again.ports["udp_chat"]))
        assert s.recv(1024) == "收到".encode("gbk")  # in the encoding the client spoke
        s.close()
    finally:
        again.stop()


def test_keyword_lookup_on_tcp_chat_like_seed_002(tmp_path: Path) -> None:
    proc = harness.start(tmp_path)
    try:
        rules = [{"match": "contains", "pattern": "北京", "reply": "首都"},
                 {"match": "any", "reply": "未搜索到"}]
        assert put_rules(proc, "tcp_chat", rules, proc.token) == 200
        client = chat_client(proc, "student")
        client.sendall("北京".encode())  # no newline, as the course's client sends
        assert "首都\n".encode() in recv_until(client, "首都\n".encode())
        client.sendall(b"tokyo\n")
        assert "未搜索到\n".encode() in recv_until(client, "未搜索到\n".encode())
        client.close()
    finally:
        proc.stop()
