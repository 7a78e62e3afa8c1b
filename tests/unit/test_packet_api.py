"""The packet log over HTTP: streamed answers that let the hub run, and private events."""

import json
import logging
import struct
from pathlib import Path

import gevent
import pytest
from flask import Flask

from tests.harness import UNIT_TOKEN as TOKEN
from tests.harness import make_app
from tests.harness import pcap_records as records
from tests.harness import pcap_tcp_fields as tcp_fields

SERVER = ("127.0.0.1", 8888)
CLIENT = ("127.0.0.1", 50000)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, disabled=frozenset({"tftp"}))


def fill(app: Flask, count: int, dm: bool = True) -> None:
    log = app.extensions["sockdash"].packetlog
    log.record("tcp_chat", "tcp", "open", "in", SERVER, CLIENT)
    for i in range(count):
        log.record("udp_chat", "udp", "data", "in", ("127.0.0.1", 8989), ("127.0.0.1", 40000 + i % 7), b"d%d" % i)
    if dm:
        log.record("tcp_chat", "tcp", "data", "in", SERVER, CLIENT, b"/msg bob the secret\n", private=True)
    log.record("tcp_chat", "tcp", "data", "out", SERVER, CLIENT, b"* welcome\n")


class Ticker:
    """A greenlet that counts how often the hub lets it run."""

    def __init__(self) -> None:
        self.ticks = 0
        self._greenlet = gevent.spawn(self._run)
        gevent.sleep(0)  # a yield, not a wait: the ticker starts counting

    def _run(self) -> None:
        while True:
            self.ticks += 1
            gevent.sleep(0)  # yields to the hub: each tick is one turn the rest of the process got

    def stop(self) -> int:
        self._greenlet.kill()
        return self.ticks


@pytest.mark.parametrize("path", ["/api/packets.pcap", "/api/packets.jsonl", "/api/packets?limit=10000"])
def test_long_answers_let_the_rest_of_the_process_run(app: Flask, path: str) -> None:
    fill(app, 5_000, dm=False)
    ticker = Ticker()
    started = ticker.ticks
    response = app.test_client().get(path)
    body = response.get_data()
    response.close()
    ran = ticker.stop() - started
    assert response.status_code == 200 and len(body) > 5_000 * 20
    assert ran >= 10  # the hub ran the others between slices of the work (before: once, at the end)


def test_packets_answer_is_one_valid_json_document_oldest_first(app: Flask) -> None:
    fill(app, 1_000)
    client = app.test_client()
    events = client.get("/api/packets?limit=10000").get_json()["events"]
    ids = [e["id"] for e in events]
    assert len(ids) == 1_003 and ids == sorted(ids)
    newest = client.get("/api/packets?limit=450").get_json()["events"]
    assert [e["id"] for e in newest] == list(range(1_003 - 449, 1_004))
    after = client.get("/api/packets?limit=450&after=600").get_json()["events"]
    assert [e["id"] for e in after] == list(range(601, 1_004))
    assert client.get("/api/packets?limit=0").get_json() == {"events": []}
    assert [e["id"] for e in client.get("/api/packets?peer=127.0.0.1:40003&limit=3").get_json()["events"]] == \
        [985, 992, 999]


def test_a_direct_message_shows_only_its_length_without_the_token(app: Flask) -> None:
    fill(app, 10)
    client = app.test_client()
    for headers, admin in (({}, False), (ADMIN, True)):
        [dm] = [e for e in client.get("/api/packets?service=tcp_chat", headers=headers).get_json()["events"]
                if e["private"]]
        assert dm["length"] == 20
        assert (dm["payload_hex"], dm["summary"]) == ((b"/msg bob the secret\n".hex(), "") if admin
                                                      else ("", "direct message"))
        jsonl = client.get("/api/packets.jsonl", headers=headers).get_data()
        assert (b"/msg bob the secret\n".hex().encode() in jsonl) is admin
        assert [json.loads(line)["private"] for line in jsonl.splitlines()].count(True) == 1
        pcap = client.get("/api/packets.pcap?service=tcp_chat", headers=headers).get_data()
        assert (b"the secret" in pcap) is admin
        frames = records(pcap)
        dm_frame, original = frames[3]  # after the handshake
        assert original == 20 + 20 + 20 and len(dm_frame) == (60 if admin else 40)
        welcome = tcp_fields(frames[4][0])
        # the sequence numbers count the hidden bytes: the server acknowledges all 20
        assert welcome[1] == tcp_fields(dm_frame)[0] + 20 and welcome[3] == b"* welcome\n"
        assert struct.unpack("!H", dm_frame[2:4])[0] == 60  # the IP header keeps the true size


def test_asking_for_more_than_the_cap_is_answered_with_the_newest_and_logged_once(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    fill(app, 10_500, dm=False)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="webapp.api"):
        for _ in range(3):
            events = client.get("/api/packets?limit=20000").get_json()["events"]
            assert len(events) == 10_000 and events[-1]["id"] == 10_502
    lines = [r.getMessage() for r in caplog.records if r.name == "webapp.api"]
    assert len(lines) == 1 and "asked for 20000 events; answered the newest 10000" in lines[0]
    assert "127.0.0.1" in lines[0]
