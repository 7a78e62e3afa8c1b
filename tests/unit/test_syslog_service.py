"""The syslog service: 514 -> 5514 fallback, the packet log, and the HTTP API over the ring."""

import errno
import socket
import time
from pathlib import Path

import pytest
from flask import Flask

from sockets_core import services as services_module
from sockets_core.servers.listen import BindError
from tests.unit.test_services import make
from tests.unit.test_webapp import app  # noqa: F401  (the app fixture)


def fill(app: Flask) -> None:  # noqa: F811
    store = app.extensions["sockdash"].syslog
    store.add(b"<11>Mar  1 00:00:00 sw1 app: link down", "10.0.0.5")
    store.add(b"<14>Mar  1 00:00:01 sw1 app: link up", "10.0.0.5")
    store.add(b"<12>Mar  1 00:00:02 rtr app: CPU <b>high</b>", "10.0.0.6")


def test_syslog_takes_5514_when_514_is_taken(tmp_path: Path) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        holder.bind(("127.0.0.1", 514))
    except OSError:
        pass  # another process holds it: the same situation
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", 5514))
        except OSError:
            pytest.fail("port 5514 is taken on this machine; the fallback cannot be shown")
    svc = make(tmp_path, syslog_port=514, disabled=frozenset({"tcp_chat", "udp_chat", "file", "tftp"}))
    try:
        svc.start_all()
        entry = svc.status()["services"]["syslog"]
        assert entry["running"] and entry["port"] == 5514
        assert entry["note"] == "port 514 is in use; using 5514 instead"
    finally:
        svc.stop_all()
        holder.close()


def test_syslog_falls_back_when_514_needs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_udp_socket = services_module.udp_socket

    def udp_socket(service: str, host: str, port: int):  # type: ignore[no-untyped-def]
        if port == 514:
            raise BindError(service, host, port, OSError(errno.EACCES, "Permission denied"))
        return real_udp_socket(service, host, port)

    monkeypatch.setattr(services_module, "udp_socket", udp_socket)
    monkeypatch.setattr(services_module, "SYSLOG_FALLBACK_PORT", 0)  # any free port stands in for 5514
    svc = make(tmp_path, syslog_port=514, disabled=frozenset({"tcp_chat", "udp_chat", "file", "tftp"}))
    svc.start_all()
    try:
        entry = svc.status()["services"]["syslog"]
        assert entry["running"] and entry["port"] not in (0, 514)
        assert entry["note"] == f"port 514 needs root; using {services_module.SYSLOG_FALLBACK_PORT} instead"
    finally:
        svc.stop_all()


def test_one_fallback_rule_for_tftp_and_syslog() -> None:
    def error(errno_value: int) -> BindError:
        return BindError("x", "127.0.0.1", 1, OSError(errno_value, "x"))

    fallback = services_module.fallback_port
    assert fallback("tftp", 69, error(errno.EACCES)) == 6969
    assert fallback("tftp", 69, error(errno.EADDRINUSE)) is None  # TFTP as before: in use is an error
    assert fallback("syslog", 514, error(errno.EACCES)) == 5514
    assert fallback("syslog", 514, error(errno.EADDRINUSE)) == 5514  # a system syslogd may hold 514
    assert fallback("syslog", 5000, error(errno.EADDRINUSE)) is None  # only the well-known port falls back
    assert fallback("udp_chat", 8989, error(errno.EACCES)) is None


def test_datagrams_reach_the_ring_and_the_packet_log_with_a_lazy_summary(tmp_path: Path) -> None:
    svc = make(tmp_path, disabled=frozenset({"tcp_chat", "udp_chat", "file", "tftp"}))
    svc.start_all()
    try:
        port = svc.endpoints["syslog"].port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"<187>1 2026-11-25T10:00:00Z sw1 stack 12 UPG - image verified", ("127.0.0.1", port))
            sender.sendto(b"<14>" + b"y" * 9000, ("127.0.0.1", port))
        deadline = time.monotonic() + 2
        while len(svc.syslog) < 2 and time.monotonic() < deadline:
            services_module.gevent.sleep(0.01)
        first, second = svc.syslog.query()
        assert (first.message.host, first.message.app, first.message.severity_name) == ("sw1", "stack", "err")
        assert second.truncated and second.length == 9004 and len(second.data) == 8192
        events = [e for e in svc.packetlog.events() if e.service == "syslog"]
        assert len(events) == 2 and events[0].summary == ""  # nothing formatted on the hot path
        assert events[0].to_dict()["summary"] == "syslog err stack: image verified"
        assert svc.status()["services"]["syslog"]["packets_in"] == 2
    finally:
        svc.stop_all()


def test_api_filters_and_polls(app: Flask) -> None:  # noqa: F811
    fill(app)
    client = app.test_client()
    body = client.get("/api/syslog").get_json()
    assert [m["id"] for m in body["messages"]] == [1, 2, 3] and body["last_id"] == 3
    assert [m["id"] for m in client.get("/api/syslog?host=10.0.0.5").get_json()["messages"]] == [1, 2]
    assert [m["id"] for m in client.get("/api/syslog?severity=warning").get_json()["messages"]] == [1, 3]
    assert [m["id"] for m in client.get("/api/syslog?severity=3").get_json()["messages"]] == [1]
    assert [m["id"] for m in client.get("/api/syslog?q=cpu").get_json()["messages"]] == [3]
    assert [m["id"] for m in client.get("/api/syslog?after=2").get_json()["messages"]] == [3]
    assert [m["id"] for m in client.get("/api/syslog?limit=1").get_json()["messages"]] == [3]


@pytest.mark.parametrize(("query", "needle"), [("severity=loud", "unknown severity 'loud'"),
                                               ("after=x", "after='x' is not a number"),
                                               ("limit=0", "limit=0 must be between 1 and 10000"),
                                               ("q=" + "x" * 300, "at most 200 characters")])
def test_api_bad_parameters_are_400_with_a_reason(app: Flask, query: str, needle: str) -> None:  # noqa: F811
    response = app.test_client().get("/api/syslog?" + query)
    assert response.status_code == 400 and needle in response.get_json()["error"]


def test_exports_stream_the_filtered_messages(app: Flask) -> None:  # noqa: F811
    fill(app)
    client = app.test_client()
    log = client.get("/api/syslog.log?host=10.0.0.5")
    lines = log.get_data(as_text=True).splitlines()
    log.close()
    assert log.mimetype == "text/plain" and "attachment" in log.headers["Content-Disposition"]
    assert len(lines) == 2 and lines[0].endswith(" 10.0.0.5 <11>Mar  1 00:00:00 sw1 app: link down")
    jsonl = client.get("/api/syslog.jsonl?severity=warning")
    rows = jsonl.get_data(as_text=True).splitlines()
    jsonl.close()
    assert len(rows) == 2 and '"message":"CPU <b>high</b>"' in rows[1]
