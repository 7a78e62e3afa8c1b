"""Two real sockdash processes on one real redis-server (--bus): one world for the chat, presence,
status, token and rules; kill -9 of one instance, a Redis outage, and history across a restart."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simple_websocket

from tests import harness
from tests.harness import Sockdash, chat_client, recv_until
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)

ADMIN = {"Authorization": f"Bearer {harness.ADMIN_TOKEN}"}


def start(tmp: Path, redis: RedisServer, name: str, *args: str) -> Sockdash:
    return harness.start(tmp / name, "--bus", redis.url, "--instance-name", name, *args)


@pytest.fixture
def pair(tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[Sockdash, Sockdash]]:  # noqa: F811
    a = start(tmp_path, redis_server, "A")
    b = start(tmp_path, redis_server, "B")
    try:
        yield a, b
    finally:
        for proc in (a, b):
            proc.stop()


def lines_until(sock: socket.socket, needle: bytes, timeout: float = 5.0) -> list[str]:
    return recv_until(sock, needle, timeout).decode().splitlines()


def said(lines: list[str], text: str) -> int:
    return sum(1 for line in lines if line.endswith(f"> {text}"))


def request_json(proc: Sockdash, path: str, method: str = "GET", body: Any = None,
                 token: str = harness.ADMIN_TOKEN) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(proc.base_url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


def test_two_instances_are_one_chat(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    alice, bob = chat_client(a, "alice"), chat_client(b, "bob")
    with alice, bob:
        recv_until(alice, b"bob")  # bob (his join, his nick) came from B through Redis
        alice.sendall(b"hello from A\n")
        bob.sendall(b"hello from B\n")
        on_b = lines_until(bob, b"> hello from A")
        on_a = lines_until(alice, b"> hello from B")
        # a duplicate would come before the next line of the same sender: one more round
        alice.sendall(b"end of A\n")
        bob.sendall(b"end of B\n")
        on_b += lines_until(bob, b"> end of A")
        on_a += lines_until(alice, b"> end of B")
        assert said(on_b, "hello from A") == said(on_b, "end of A") == 1, on_b
        assert said(on_a, "hello from B") == said(on_a, "end of B") == 1, on_a
        assert said(on_b, "hello from B") == said(on_a, "hello from A") == 0  # no echo of one's own lines

        bob.sendall(b"/who\n")
        assert "alice (tcp)" in recv_until(bob, b"alice (tcp)").decode()
        with socket.create_connection((b.host, b.ports["tcp_chat"]), timeout=5) as thief:
            recv_until(thief, b"/help")
            thief.sendall(b"/nick ALICE\n")  # nicks are case-insensitive, across instances
            assert b"nick ALICE is taken" in recv_until(thief, b"taken")

    instances = b.wait_for(lambda: len(b.status()["bus"]["instances"]) == 2 and b.status()["bus"]["instances"],
                           what="both instances listed")
    assert [i["id"] for i in instances] == ["B", "A"]  # this one first
    assert instances[1]["services"]["tcp_chat"]["port"] == a.ports["tcp_chat"]
    assert b.status()["bus"]["state"] == "connected"


def test_kill_9_of_an_instance_its_members_leave_within_10_s(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    alice, bob = chat_client(a, "alice"), chat_client(b, "bob")
    with alice, bob:
        bob.sendall(b"/who\n")
        recv_until(bob, b"alice (tcp)")
        a.proc.kill()
        killed = time.monotonic()
        recv_until(bob, b"* alice (tcp) left", timeout=10)
        assert time.monotonic() - killed < 10
        # B keeps serving: a new member on B talks with bob
        with chat_client(b, "carol") as carol:
            carol.sendall(b"still here\n")
            recv_until(bob, b"> still here")
        # and alice's nick is free again once A's claim expired
        with chat_client(b, "alice"):
            pass
        assert [i["id"] for i in b.wait_for(lambda: len(b.status()["bus"]["instances"]) == 1
                                            and b.status()["bus"]["instances"], timeout=12,
                                            what="A gone from the instances")] == ["B"]


def test_redis_outage_serves_locally_then_resumes_without_duplicates(
        pair: tuple[Sockdash, Sockdash], redis_server: RedisServer) -> None:  # noqa: F811
    a, b = pair
    alice, bob, bert = chat_client(a, "alice"), chat_client(b, "bob"), chat_client(b, "bert")
    with alice, bob, bert:
        recv_until(alice, b"bert")
        redis_server.stop()
        b.wait_for(lambda: b.status()["bus"]["state"] == "reconnecting", what="B reconnecting")
        bert.sendall(b"during the outage\n")  # B's own members still talk
        recv_until(bob, b"> during the outage")
        b_page = urllib.request.urlopen(b.base_url + "/", timeout=5)
        with b_page:
            assert b'data-bus-state="reconnecting"' in b_page.read()

        redis_server.start()
        back = time.monotonic()
        b.wait_for(lambda: b.status()["bus"]["state"] == "connected", timeout=5, what="B connected again")
        a.wait_for(lambda: a.status()["bus"]["state"] == "connected", timeout=5, what="A connected again")
        assert time.monotonic() - back < 5
        alice.sendall(b"after the outage\n")
        on_b = lines_until(bob, b"> after the outage", timeout=5)
        bert.sendall(b"marker\n")
        on_b += lines_until(bob, b"> marker")
        on_a = lines_until(alice, b"> marker")
        assert said(on_b, "after the outage") == 1
        assert said(on_b, "during the outage") == 0  # delivered once, during the outage, never again
        assert said(on_a, "during the outage") == 0  # it stayed on B
        assert b.status()["bus"]["outages"] >= 1


def web_history(proc: Sockdash, nick: str) -> list[str]:
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{proc.ports['http']}/ws/chat")
    try:
        ws.send(json.dumps({"type": "hello", "nick": nick, "rooms": ["lobby"], "client": ""}))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = json.loads(ws.receive(timeout=5))
            if message["type"] == "history" and message["room"] == "lobby":
                return [event["text"] for event in message["events"]]
        raise AssertionError("no history frame")
    finally:
        ws.close()


def test_a_restarted_instance_shows_what_was_said_elsewhere(tmp_path: Path,
                                                           redis_server: RedisServer) -> None:  # noqa: F811
    a = start(tmp_path, redis_server, "A")
    try:
        with chat_client(a, "alice") as alice, chat_client(a, "watcher") as watcher:
            alice.sendall(b"said before B ever ran\n")
            recv_until(watcher, b"> said before B ever ran")  # through Redis: in the stream
        b = start(tmp_path, redis_server, "B")
        try:
            assert web_history(b, "reader").count("said before B ever ran") == 1
        finally:
            b.stop()
        with chat_client(a, "alice2") as alice, chat_client(a, "watcher2") as watcher:
            alice.sendall(b"said while B was down\n")
            recv_until(watcher, b"> said while B was down")
        b = start(tmp_path, redis_server, "B")  # the same --data: the backfill is idempotent (ids)
        try:
            history = web_history(b, "reader")
            assert history.count("said before B ever ran") == 1
            assert history.count("said while B was down") == 1
        finally:
            b.stop()
    finally:
        a.stop()


def test_admin_token_and_auto_responses_are_the_clusters(tmp_path: Path,
                                                         redis_server: RedisServer) -> None:  # noqa: F811
    a = start(tmp_path, redis_server, "A")
    rotated = "another-token-of-b-0123"
    b = start(tmp_path, redis_server, "B", "--admin-token", rotated)  # given: it becomes the cluster's
    try:
        assert any(rotated in line for line in b.banner if line.startswith("Admin:"))
        assert redis_server.client().get("sockdash:admin-token") == rotated
        rules = [{"match": "contains", "pattern": "ping", "reply": "pong from the cluster"}]
        request_json(a, "/api/autoreply/tcp_chat", "PUT", rules)
        b.wait_for(lambda: request_json(b, "/api/autoreply", token=rotated)["tcp_chat"], what="the rules on B")
        with chat_client(b, "bob") as bob:
            bob.sendall(b"ping\n")
            recv_until(bob, b"pong from the cluster")
    finally:
        a.stop()
        b.stop()


def test_unreachable_bus_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.redis_server import free_tcp_port

    result = harness.run_to_exit(tmp_path, "--bus", f"redis://127.0.0.1:{free_tcp_port()}/0")
    assert result.returncode == 2
    assert "sockdash: error: cannot reach Redis at redis://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_transfer_feed_shows_every_instances_transfers(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    feed = simple_websocket.Client.connect(f"ws://127.0.0.1:{b.ports['http']}/ws/files")
    try:
        assert harness.tftp_answers(a.host, a.ports["tftp"])  # an RRQ of a missing file: a refused transfer on A
        deadline = time.monotonic() + 5
        shown: list[dict[str, Any]] = []
        while not shown and time.monotonic() < deadline:
            message = json.loads(feed.receive(timeout=5) or "{}")
            if message.get("type") == "transfer-updates":
                shown = [t for t in message["transfers"] if t["file"] == "sockdash-probe-no-such-file"]
        assert shown and shown[0]["instance"] == "A" and shown[0]["status"] == "refused"
    finally:
        feed.close()
    # the list too holds every instance's, keyed (instance, id): A's refusal is listed on B, once
    b.wait_for(lambda: [(t["instance"], t["status"]) for t in request_json(b, "/api/transfers")["transfers"]
                        if t["file"] == "sockdash-probe-no-such-file"] == [("A", "refused")], timeout=5,
               what="A's refused transfer in B's /api/transfers")


def test_the_packet_log_shows_every_instances_events_with_their_instance(pair: tuple[Sockdash, Sockdash]) -> None:
    a, b = pair
    assert harness.tftp_answers(a.host, a.ports["tftp"])  # an RRQ and its ERROR: packet events on A

    def from_a() -> list[dict[str, Any]]:
        return [e for e in request_json(b, "/api/packets?service=tftp")["events"] if e.get("instance") == "A"]

    def both_ways() -> list[dict[str, Any]]:  # the RRQ in and the ERROR out (they may come in two batches)
        events = from_a()
        return events if {e["direction"] for e in events} == {"in", "out"} else []

    events = b.wait_for(both_ways, timeout=5, what="A's TFTP events (in and out) in B's /api/packets")
    assert any(e["direction"] == "in" and e["local"].endswith(f":{a.ports['tftp']}") for e in events)  # the RRQ
    # the export carries them too, each with its instance
    with urllib.request.urlopen(urllib.request.Request(b.base_url + "/api/packets.jsonl?service=tftp", headers=ADMIN),
                                timeout=5) as response:
        exported = [json.loads(line) for line in response.read().decode().splitlines()]
    assert [e["instance"] for e in exported if "instance" in e] == ["A"] * len(events)
    assert not [e for e in request_json(a, "/api/packets?service=tftp")["events"] if "instance" in e]  # not echoed


def test_workers_given_no_admin_token_adopt_the_clusters(tmp_path: Path,
                                                         redis_server: RedisServer) -> None:  # noqa: F811
    """The supervisor of --workers hands its workers a token only when one was given: else each
    worker adopts the cluster's, as any instance without --admin-token does."""
    import os
    import subprocess
    import threading

    redis_server.client().set("sockdash:admin-token", "the-clusters-token-0123")
    argv = [*harness.command(), "--host", "127.0.0.1", "--root", str(tmp_path / "root"), "--data",
            str(tmp_path / "data"), *harness.ALL_PORTS_ZERO, "--workers", "2"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "SOCKDASH_BUS": redis_server.url})
    admin: list[str] = []
    banner = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Admin:"):
                admin.append(line)
                banner.set()
        banner.set()  # it exited

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        banner.wait(harness.START_TIMEOUT)
    finally:
        proc.terminate()
        proc.wait(15)
        reader.join(5)
        assert proc.stdout is not None
        proc.stdout.close()
    assert admin and admin[0].rstrip().endswith("?token=the-clusters-token-0123"), admin
    assert redis_server.client().get("sockdash:admin-token") == "the-clusters-token-0123"
